/**
 * What every `edgeloop` subcommand receives and returns: its streams, environment and working directory, and the
 * module shape cli/main.ts loads. Here rather than in cli/ because commands that live with their part
 * (models/nab/commands.ts, models/recommender/commands.ts) take the same context without importing the CLI.
 */
export interface CliContext {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export interface CommandModule {
  run(argv: string[], ctx: CliContext): Promise<number>;
  help: string;
}
