/** The flag helpers of `edgeloop models`: parse, required values, numbers, lists, dates, CSV cells. */
import type { ParseArgsConfig } from 'node:util';
import { choiceFlag, flagError, numberFlag, parseFlags, usageError } from '../../lib/cli-errors.ts';
import { AUTOENCODER_ACTIVATIONS } from '../../models/anomaly/autoencoder.ts';
import type { AutoencoderActivation } from '../../models/anomaly/autoencoder.ts';

export type Opts = Record<string, string | boolean | undefined>;

export function parse(argv: string[], options: NonNullable<ParseArgsConfig['options']>): Opts {
  const { values, positionals } = parseFlags('models', argv, { options, allowPositionals: true });
  if (positionals.length)
    throw usageError(
      'models',
      `${JSON.stringify(positionals[0])}: unexpected argument`,
      'options only; see edgeloop models --help',
    );
  return values as Opts;
}

export function required(o: Opts, name: string): string {
  const v = o[name];
  if (typeof v !== 'string' || v === '') throw flagError('models', `--${name}`, 'missing', `--${name} VALUE`);
  return v;
}

export function str(v: string | boolean | undefined): string {
  return String(v);
}

export function list(v: string, flag: string): string[] {
  const items = v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (items.length === 0) throw flagError('models', flag, 'empty list', 'a comma-separated list');
  return items;
}

export function int(v: string | boolean | undefined, flag: string, def: number, min: number): number {
  return v === undefined ? def : intValue(String(v), flag, min);
}

export function intValue(v: string, flag: string, min: number): number {
  return numberFlag('models', flag, v, { min, integer: true })!;
}

export function num(v: string | boolean | undefined, flag: string, def: number): number {
  return v === undefined ? def : numberFlag('models', flag, String(v))!;
}

export function nonNegative(v: string | boolean | undefined, flag: string, def: number): number {
  return v === undefined ? def : numberFlag('models', flag, String(v), { min: 0 })!;
}

export function isoDate(v: string, flag: string): string {
  if (Number.isNaN(Date.parse(v)))
    throw flagError('models', flag, `invalid value ${JSON.stringify(v)}`, 'an ISO 8601 date');
  return v;
}

export function activationArg(v: string | boolean | undefined): AutoencoderActivation {
  const a = v === undefined ? 'tanh' : String(v);
  return choiceFlag('models', '--activation', a, AUTOENCODER_ACTIVATIONS)!;
}

export function separatorArg(v: string): string {
  if (v === '\\t' || v === 'tab') return '\t';
  return v;
}

export function csvCell(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function keyIdFromManifest(m: unknown): string {
  return (m as { signature?: { keyId?: string } }).signature?.keyId ?? '?';
}
