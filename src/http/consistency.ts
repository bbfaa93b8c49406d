import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import { ValidationError } from '../domain/errors.js';
import type { LogPosition } from '../domain/event.js';
import type { ReadYourWrites } from '../queries/readYourWrites.js';
import { actorOf } from './context.js';

const CONSISTENCY_HEADER = 'Consistency-Token';

const invalid = () =>
  new ValidationError('Invalid Consistency-Token', [{ field: CONSISTENCY_HEADER, message: 'must be a token this service answered a command with' }], 'INVALID_CONSISTENCY_TOKEN');

/**
 * Consistency-Tokens: the log position a command's answer reflects, signed so that a token is
 * either one this cluster issued or refused (opaque to clients; any instance reads it).
 */
export const createConsistencyTokens = (secret: string) => {
  const key = createHmac('sha256', secret).update('taskflow consistency token').digest();
  const mac = (body: string) => createHmac('sha256', key).update(body).digest().subarray(0, 16);
  return {
    encode(position: LogPosition) {
      const body = Buffer.from(`${position.tx}.${position.pos}`).toString('base64url');
      return `${body}.${mac(body).toString('base64url')}`;
    },
    decode(token: string): LogPosition {
      const [body, signature, extra] = token.trim().split('.');
      if (!body || !signature || extra !== undefined || body.length > 60) throw invalid();
      const given = Buffer.from(signature, 'base64url');
      const expected = mac(body);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid();
      const match = /^(\d{1,20})\.(\d{1,20})$/.exec(Buffer.from(body, 'base64url').toString());
      if (!match) throw invalid();
      return { tx: BigInt(match[1]!), pos: BigInt(match[2]!) };
    },
  };
};
export type ConsistencyTokens = ReturnType<typeof createConsistencyTokens>;

/** What routes do around read-your-writes: answer commands with a token, make reads wait for it. */
export const consistency = (readYourWrites: ReadYourWrites, tokens: ConsistencyTokens) => ({
  /**
   * After a 2xx command: remember the caller's write (`position`, when it appended) and answer
   * with the token of what the answer reflects (the write, or the state it was decided on).
   */
  async answered(res: Response, { position, reflects }: { position: LogPosition | null; reflects: LogPosition | null }) {
    if (position) await readYourWrites.noteWrite(actorOf(res).userId, position);
    const reflected = position ?? reflects;
    if (reflected) res.setHeader(CONSISTENCY_HEADER, tokens.encode(reflected));
  },
  /** The position this read must reflect: the caller's last write, or the token it sent. */
  required(req: Request, res: Response) {
    const header = req.get(CONSISTENCY_HEADER);
    return readYourWrites.required(actorOf(res).userId, header === undefined ? null : tokens.decode(header));
  },
  awaitProjected: readYourWrites.awaitProjected,
});
export type Consistency = ReturnType<typeof consistency>;
