// How a foreground command ends: SIGINT/SIGTERM, its --duration, or (optionally) a condition of
// its own polled meanwhile, whichever comes first; resolves with the reason, for the log.
export function waitForStop(durationSeconds: number | undefined, ended?: { check: () => string | null; everyMs: number }): Promise<string> {
  return new Promise((resolve) => {
    const done = (reason: string): void => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      if (timer !== undefined) clearTimeout(timer);
      if (poll !== undefined) clearInterval(poll);
      resolve(reason);
    };
    const onInt = (): void => done('SIGINT');
    const onTerm = (): void => done('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    const timer = durationSeconds !== undefined ? setTimeout(() => done(`duration ${durationSeconds}s elapsed`), durationSeconds * 1000) : undefined;
    const poll = ended !== undefined ? setInterval(() => {
      const reason = ended.check();
      if (reason !== null) done(reason);
    }, ended.everyMs) : undefined;
  });
}
