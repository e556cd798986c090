/**
 * ErrorCode is the union of every registered code: an unregistered literal given to EdgeloopError does not
 * compile (the @ts-expect-error lines fail `npm run check` the day the type stops refusing them), while a code
 * known only at run time (a string from another process's answer) is accepted.
 */
import { describe, expect, it } from 'vitest';
import { EdgeloopError, type ErrorCode } from '../../protocol/errors.ts';

describe('ErrorCode', () => {
  it('takes registered codes of every layer and refuses an unregistered literal', () => {
    const fromProtocol: ErrorCode = 'EL_ERR_CONFIG_INVALID';
    const fromAgent: ErrorCode = 'EL_ERR_OUTBOX_FULL';
    const fromCloud: ErrorCode = 'EL_ERR_STREAM_BACKEND';
    // @ts-expect-error not a registered code
    const notACode: ErrorCode = 'EL_ERR_NO_SUCH_CODE';
    expect([fromProtocol, fromAgent, fromCloud, notACode]).toHaveLength(4);
    // @ts-expect-error not a registered code
    const err = new EdgeloopError('EL_ERR_NO_SUCH_CODE', 'refused by tsc');
    expect(err.code).toBe('EL_ERR_NO_SUCH_CODE');
  });

  it('passes a code that is only known at run time through unchanged', () => {
    const wire = JSON.parse('{"code":"EL_ERR_REGISTRY_NOT_FOUND"}') as { code: string };
    const err = new EdgeloopError(wire.code, 'from an HTTP answer');
    expect(err.code).toBe('EL_ERR_REGISTRY_NOT_FOUND');
    expect(err).toBeInstanceOf(Error);
  });
});
