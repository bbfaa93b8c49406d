import { Writable } from 'node:stream';
import winston from 'winston';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/infra/logger.js';

const capture = () => {
  const lines: string[] = [];
  const logger = createLogger('debug', false);
  logger.clear().add(new winston.transports.Stream({ stream: new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) }) }));
  return { logger, lines };
};

describe('logger redaction', () => {
  it('never writes passwords, tokens, hashes, secrets or authorization headers', () => {
    const { logger, lines } = capture();
    logger.info('login attempt', {
      password: 'hunter22',
      body: { email: 'a@b.c', password: 'hunter22', refresh_token: 'rt-123' },
      headers: { authorization: 'Bearer eyJhbGciOi', cookie: 'sid=1' },
      user: { passwordHash: '$argon2id$v=19$abc', name: 'Ada' },
      config: { jwtSecret: 's3cr3t', JWT_SECRET: 's3cr3t' },
      access_token: 'eyJ.x.y',
      list: [{ token: 'tok-1' }],
    });
    const out = lines.join('');
    for (const secret of ['hunter22', 'rt-123', 'eyJhbGciOi', 'sid=1', '$argon2id', 's3cr3t', 'eyJ.x.y', 'tok-1']) expect(out).not.toContain(secret);
    expect(out).toContain('[REDACTED]');
    expect(out).toContain('a@b.c');
    expect(out).toContain('Ada');
    expect(JSON.parse(lines[0]!).message).toBe('login attempt');
  });

  it('keeps error messages but not their secrets in fields', () => {
    const { logger, lines } = capture();
    logger.error('failed', { error: new Error('boom'), secret: 'x-secret' });
    const entry = JSON.parse(lines[0]!);
    expect(entry.error.message).toBe('boom');
    expect(entry.secret).toBe('[REDACTED]');
  });
});
