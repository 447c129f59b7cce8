import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/util/errors.js';
import { recipients } from '../../src/notify/email-message.js';

describe('the mail section', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-mailcfg-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const load = (...mail: string[]) => {
    const file = path.join(dir, 'config.yml');
    fs.writeFileSync(
      file,
      [
        'pockets:',
        '  dev: {suite: dev, notify: [dev@example.org, audit@example.org]}',
        'mail:',
        ...mail.map((l) => `  ${l}`),
        '',
      ].join('\n'),
    );
    return loadConfig(file);
  };
  const problem = (...mail: string[]) => {
    try {
      load(...mail);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as ConfigError).message.replace(`${dir}/`, '');
    }
    throw new Error('expected a ConfigError');
  };

  it('takes the port from tls, a password file relative to the config, and sends to notify and audit_to once each', () => {
    expect(load('smtp_host: mail.example.org', 'tls: tls').mail.smtp_port).toBe(465);
    expect(load('tls: none').mail.smtp_port).toBe(25);
    const cfg = load(
      'smtp_host: 127.0.0.1',
      'auth_user: pb',
      'auth_password_file: secret',
      'audit_to: [audit@example.org, keep@example.net]',
    );
    expect(cfg.mail).toMatchObject({ smtp_port: 587, tls: 'starttls', auth_password_file: path.join(dir, 'secret') });
    const event = { event: 'started', request: { id: 'x', pocket: 'dev', package: 'p', commit: 'c', principal: 'a' } };
    expect(recipients(cfg, event)).toEqual(['dev@example.org', 'audit@example.org', 'keep@example.net']);
  });

  it('refuses half an AUTH setting, a port out of range, and a timeout the hook runner would cut short', () => {
    expect(problem('auth_user: pb')).toBe(
      'config.yml:4: mail.auth_user is set but mail.auth_password_file is not; name the file holding the SMTP password',
    );
    expect(problem('auth_password_file: secret')).toBe(
      'config.yml:4: mail.auth_password_file is set but mail.auth_user is not; set the SMTP user name too',
    );
    expect(problem('smtp_port: 70000')).toBe(
      'config.yml:4: mail.smtp_port must be a port number from 1 to 65535, got 70000',
    );
    expect(problem('smtp_host: localhost', 'timeout_seconds: 30')).toBe(
      'config.yml:5: mail.timeout_seconds (30) must be below hooks.timeout_seconds (30), or the e-mail hook is killed before it can report a failure; lower one or raise the other',
    );
    expect(problem('tls: ssl')).toMatch(/^config\.yml:4: mail\.tls must be one of "none", "starttls", "tls"/);
  });
});
