/** Installs the Debian packages behind `[command, package]` pairs whose command is missing. */
export function ensureDebian(pairs: [command: string, pkg: string][]): void;
