import { createSecretKey } from 'node:crypto';
import type { RequestHandler } from 'express';
import passport from 'passport';
import { ExtractJwt, Strategy as JwtStrategy } from 'passport-jwt';
import { ROLES, type Actor, type Role } from '../domain/actor.js';
import { UnauthorizedError } from '../domain/errors.js';
import { JWT_AUDIENCE, JWT_ISSUER } from './tokens.js';
import { UUID_PATTERN } from '../domain/ids.js';

/** passport-jwt on its own Passport instance: Bearer, HS256 only (so `alg: none` is refused). */
export const createAuthenticate = (secret: string, currentRole?: (userId: string) => Promise<Role>): RequestHandler => {
  const authenticator = new passport.Passport();
  authenticator.use(
    new JwtStrategy(
      {
        jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
        // A KeyObject: given a string, jsonwebtoken first tries (and fails) to parse it as a
        // public key on every request, which costs more than the verification itself.
        secretOrKey: createSecretKey(Buffer.from(secret)) as unknown as string,
        algorithms: ['HS256'],
        issuer: JWT_ISSUER,
        audience: JWT_AUDIENCE,
      },
      (payload: { sub?: unknown; role?: unknown }, done: (error: unknown, user?: Actor | false) => void) => {
        const { sub, role } = payload;
        if (typeof sub !== 'string' || !UUID_PATTERN.test(sub) || !ROLES.includes(role as never)) return done(null, false);
        const claimed = role as Role;
        // Admin powers are checked against the roster at every request: a demoted admin's token
        // acts as a user at once. A user token is taken at its word (no lookup on most requests):
        // someone promoted since acts as admin from their next refresh or sign-in.
        if (claimed !== 'admin' || !currentRole) return done(null, { kind: 'user', userId: sub, role: claimed });
        currentRole(sub).then((now) => done(null, { kind: 'user', userId: sub, role: now }), (error) => done(error));
      },
    ),
  );
  return (req, res, next) =>
    authenticator.authenticate('jwt', { session: false }, (error: unknown, actor: Actor | false, info: unknown) => {
      if (error) return next(error);
      if (!actor) {
        const expired = (info as { name?: string } | undefined)?.name === 'TokenExpiredError';
        return next(
          expired
            ? new UnauthorizedError('The access token has expired', 'TOKEN_EXPIRED')
            : new UnauthorizedError('A valid Bearer access token is required', 'UNAUTHORIZED'),
        );
      }
      res.locals.actor = actor;
      next();
    })(req, res, next);
};
