/** A command-line usage error: the CLI prints the usage and exits with 2. */
export class UsageError extends Error {}
