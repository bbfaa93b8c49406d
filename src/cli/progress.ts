import cliProgress from 'cli-progress';
import type { RebuildProgress } from '../operations/rebuild.js';

const LINE_EVERY_MS = 2000;

export type ProgressMode = 'bar' | 'lines' | 'json';

const formatSeconds = (seconds: number) => {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${Math.ceil(seconds)}s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60 ? `${minutes}m${String(Math.ceil(seconds % 60)).padStart(2, '0')}s` : `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
};

/**
 * Rebuild progress: a bar on a terminal, a plain line every ~2 s otherwise, JSON lines with
 * --json. The rate counts this run's events only, so a resumed rebuild's ETA is honest.
 */
export const progressReporter = (mode: ProgressMode) => {
  const startedAt = Date.now();
  let bar: cliProgress.SingleBar | null = null;
  let current: string | null = null;
  let lastLine = 0;
  let lastPhase: string | null = null;

  const measure = (p: RebuildProgress) => {
    const elapsed = Math.max((Date.now() - startedAt) / 1000, 0.001);
    const rate = (p.done - p.resumedAt) / elapsed;
    const eta = rate > 0 ? (p.total - p.done) / rate : Number.POSITIVE_INFINITY;
    return { rate: Math.round(rate), eta: p.done >= p.total ? 0 : eta };
  };

  return {
    update(p: RebuildProgress) {
      const { rate, eta } = measure(p);
      if (mode === 'bar') {
        if (current !== p.projection) {
          bar?.stop();
          bar = new cliProgress.SingleBar(
            { format: `${p.projection.padEnd(6)} [{bar}] {percentage}% | {value}/{total} events | {rate} events/s | ETA {etaText} | {phase}`, hideCursor: true },
            cliProgress.Presets.shades_classic,
          );
          bar.start(p.total, p.done, { rate, etaText: formatSeconds(eta), phase: p.phase });
          current = p.projection;
        }
        bar!.setTotal(Math.max(p.total, 1));
        bar!.update(p.done, { rate, etaText: formatSeconds(eta), phase: p.phase });
        return;
      }
      const due = Date.now() - lastLine >= LINE_EVERY_MS || p.phase !== lastPhase || current !== p.projection;
      if (!due) return;
      lastLine = Date.now();
      lastPhase = p.phase;
      current = p.projection;
      if (mode === 'json') console.log(JSON.stringify({ event: 'progress', ...p, eventsPerSecond: rate, etaSeconds: Number.isFinite(eta) ? Math.ceil(eta) : null }));
      else {
        const percent = p.total ? Math.floor((100 * p.done) / p.total) : 100;
        console.log(`${p.projection}: ${p.phase} ${p.done}/${p.total} events (${percent}%), ${rate} events/s, ETA ${formatSeconds(eta)}`);
      }
    },
    stop() {
      bar?.stop();
      bar = null;
      current = null;
    },
  };
};
