import { createHash, createSecretKey, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { Knex } from 'knex';
import type { Role } from '../domain/actor.js';
import { UnauthorizedError } from '../domain/errors.js';

export const JWT_ISSUER = 'taskflow';
export const JWT_AUDIENCE = 'taskflow-api';

export type TokenSubject = Readonly<{ id: string; email: string; role: Role }>;
export type TokenPair = Readonly<{ access_token: string; refresh_token: string; token_type: 'Bearer'; expires_in: number }>;

type RefreshRow = {
  id: string;
  family_id: string;
  user_id: string;
  token_hash: string;
  expires_at: Date;
  used_at: Date | null;
  revoked_at: Date | null;
};

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const invalidRefresh = () => new UnauthorizedError('The refresh token is invalid, expired or revoked', 'INVALID_REFRESH_TOKEN');

/**
 * Access tokens are short-lived JWTs. Refresh tokens are opaque `<id>.<secret>` strings stored as
 * a hash; each use rotates them, and presenting a used one revokes its whole family.
 */
export const createTokenService = (deps: {
  knex: Knex;
  secret: string;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
  now: () => Date;
}) => {
  const { knex, accessTtlSeconds, refreshTtlSeconds, now } = deps;
  const signingKey = createSecretKey(Buffer.from(deps.secret));

  const issue = async (subject: TokenSubject, familyId: string, trx: Knex | Knex.Transaction = knex): Promise<TokenPair> => {
    const id = randomUUID();
    const tokenSecret = randomBytes(32).toString('base64url');
    await trx<RefreshRow>('refresh_tokens').insert({
      id,
      family_id: familyId,
      user_id: subject.id,
      token_hash: sha256(tokenSecret),
      expires_at: new Date(now().getTime() + refreshTtlSeconds * 1000),
    });
    const access_token = jwt.sign({ role: subject.role, email: subject.email }, signingKey, {
      algorithm: 'HS256',
      subject: subject.id,
      issuer: JWT_ISSUER,
      audience: JWT_AUDIENCE,
      expiresIn: accessTtlSeconds,
      jwtid: randomUUID(),
    });
    return { access_token, refresh_token: `${id}.${tokenSecret}`, token_type: 'Bearer', expires_in: accessTtlSeconds };
  };

  /** Finds a refresh token row by its presented value, checking the secret in constant time. */
  const lookup = async (trx: Knex.Transaction, presented: string): Promise<RefreshRow> => {
    const [id, tokenSecret] = presented.split('.');
    if (!id || !tokenSecret || !/^[0-9a-f-]{36}$/.test(id)) throw invalidRefresh();
    const row = await trx<RefreshRow>('refresh_tokens').where({ id }).forUpdate().first();
    if (!row) throw invalidRefresh();
    const a = Buffer.from(row.token_hash);
    const b = Buffer.from(sha256(tokenSecret));
    if (a.length !== b.length || !timingSafeEqual(a, b)) throw invalidRefresh();
    return row;
  };

  const revokeFamily = (trx: Knex | Knex.Transaction, familyId: string) =>
    trx('refresh_tokens').where({ family_id: familyId }).whereNull('revoked_at').update({ revoked_at: now() });

  return {
    issueForLogin: (subject: TokenSubject) => issue(subject, randomUUID()),

    /** Rotates a refresh token; `loadSubject` re-reads the user so a role change takes effect. */
    async refresh(presented: string, loadSubject: (userId: string) => Promise<TokenSubject | null>): Promise<TokenPair> {
      let reused: string | null = null;
      const pair = await knex.transaction(async (trx) => {
        const row = await lookup(trx, presented);
        if (row.revoked_at) throw invalidRefresh();
        if (row.used_at) {
          reused = row.family_id;
          return null;
        }
        if (row.expires_at.getTime() <= now().getTime()) throw invalidRefresh();
        const subject = await loadSubject(row.user_id);
        if (!subject) throw invalidRefresh();
        await trx('refresh_tokens').where({ id: row.id }).update({ used_at: now() });
        return issue(subject, row.family_id, trx);
      });
      if (reused) {
        // Someone replayed a rotated token: the thief or the owner, we cannot tell; end the session.
        await revokeFamily(knex, reused);
        throw new UnauthorizedError('The refresh token was already used; the session has been revoked', 'REFRESH_TOKEN_REUSED');
      }
      return pair!;
    },

    async logout(presented: string) {
      await knex.transaction(async (trx) => {
        const row = await lookup(trx, presented);
        await revokeFamily(trx, row.family_id);
      });
    },
  };
};
export type TokenService = ReturnType<typeof createTokenService>;
