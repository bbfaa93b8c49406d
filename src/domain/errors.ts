/** Errors with a stable machine-readable code and the HTTP status a client should see. */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Readonly<Record<string, unknown>>,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export type FieldError = Readonly<{ field: string; message: string }>;

export class ValidationError extends AppError {
  constructor(message: string, readonly errors: readonly FieldError[] = [], code = 'VALIDATION_FAILED') {
    super(400, code, message);
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = 'Authentication is required', code = 'UNAUTHORIZED') {
    super(401, code, message);
  }
}

export class ForbiddenError extends AppError {
  constructor(message: string, code = 'FORBIDDEN') {
    super(403, code, message);
  }
}

export class NotFoundError extends AppError {
  constructor(message: string, code = 'NOT_FOUND') {
    super(404, code, message);
  }
}

export class ConflictError extends AppError {
  constructor(message: string, code = 'CONFLICT') {
    super(409, code, message);
  }
}

/** The stream moved on since the version the client (or the handler) expected. */
export class ConcurrencyError extends AppError {
  constructor(
    readonly expectedVersion: number,
    readonly actualVersion: number | null,
    message = `Expected version ${expectedVersion} but the stream is at ${actualVersion ?? 'an unknown version'}`,
  ) {
    super(412, 'VERSION_MISMATCH', message);
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(message: string, code = 'SERVICE_UNAVAILABLE', readonly retryAfterSeconds = 1) {
    super(503, code, message);
  }
}
