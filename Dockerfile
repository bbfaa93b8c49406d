# TaskFlow API in scale-out mode: PostgreSQL, Redis and EventStoreDB come from the environment
# (see docker-compose.yml). The build stage compiles src/ to dist/; the image runs dist/ with the
# production dependencies only (no TypeScript, no tsx).
FROM node:20-bookworm-slim AS build

WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim

ENV NODE_ENV=production
WORKDIR /app

COPY package.json package-lock.json ./
# Install scripts stay off, as npm 11's allowScripts keeps them in development: the server needs
# none of them with an external PostgreSQL (argon2 ships its binary as a package).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

COPY --from=build /app/dist ./dist
COPY bin ./bin
# The embedded default (no DATABASE_URL) keeps its data in .data/; the unprivileged user owns only that.
RUN mkdir -p /app/.data && chown node:node /app/.data

USER node
ENV PORT=3000
EXPOSE 3000

HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# As `npm start`: with V8's default limit on a large host the heap grows to ~4× its live data
# under load; this limit keeps peak RSS near 165 MB (BENCHMARKS.md, Memory).
CMD ["node", "--max-old-space-size=1024", "dist/cli/index.js", "serve"]
