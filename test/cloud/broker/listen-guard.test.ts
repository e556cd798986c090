/**
 * No open listener by accident: lib/listen-guard.ts, and the embedded broker refusing to listen on a non-loopback
 * address with anonymous access unless `insecure: true` is given (then it logs a warning).
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { EmbeddedBroker } from '../../../cloud/broker/embedded-broker.ts';
import { EmbeddedBroker as SimulatorBroker } from '../../../simulator/embedded-broker.ts';
import { createCloud } from '../../../cloud/create-cloud.ts';
import { parseCloudConfig } from '../../../cloud/config.ts';
import { assertSecureListener, isLoopbackHost } from '../../../lib/listen-guard.ts';
import { connect, memoryLogger, startBroker, tempDir } from './broker-helpers.ts';

describe('isLoopbackHost', () => {
  it('knows loopback addresses from the ones that reach the network', () => {
    for (const h of [
      '127.0.0.1',
      '127.8.9.10',
      'localhost',
      'LOCALHOST',
      '::1',
      '[::1]',
      '0:0:0:0:0:0:0:1',
      '::ffff:127.0.0.1',
    ]) {
      expect(isLoopbackHost(h), h).toBe(true);
    }
    for (const h of [
      '0.0.0.0',
      '::',
      '',
      '10.1.2.3',
      '192.168.1.20',
      '::ffff:10.0.0.1',
      'fe80::1',
      'pi.local',
      'example.com',
      '128.0.0.1',
    ]) {
      expect(isLoopbackHost(h), h).toBe(false);
    }
  });
});

describe('assertSecureListener', () => {
  it('throws EL_ERR_INSECURE_LISTENER naming the listener, host and port; passes loopback, authenticated or insecure listeners', () => {
    const { logger, lines } = memoryLogger();
    expect(() =>
      assertSecureListener({
        host: '0.0.0.0',
        port: 1883,
        authConfigured: false,
        insecure: false,
        what: 'the test listener',
      }),
    ).toThrow(
      expect.objectContaining({
        code: 'EL_ERR_INSECURE_LISTENER',
        message: expect.stringMatching(/the test listener: refusing to listen on 0\.0\.0\.0:1883.*"insecure" option/),
      }),
    );
    assertSecureListener({ host: '127.0.0.1', port: 1883, authConfigured: false, insecure: false, what: 'x', logger });
    assertSecureListener({ host: '0.0.0.0', port: 1883, authConfigured: true, insecure: false, what: 'x', logger });
    expect(lines).toEqual([]);
    assertSecureListener({
      host: '0.0.0.0',
      port: 1883,
      authConfigured: false,
      insecure: true,
      what: 'the test listener',
      logger,
    });
    expect(lines).toMatchObject([
      {
        level: 40,
        host: '0.0.0.0',
        port: 1883,
        msg: expect.stringMatching(/^INSECURE: the test listener listens on 0\.0\.0\.0:1883 without authentication/),
      },
    ]);
  });
});

describe('EmbeddedBroker listener exposure', () => {
  it('refuses to listen on 0.0.0.0 with allowAnonymous unless insecure: true, and does not open the port', async () => {
    const broker = new EmbeddedBroker({ host: '0.0.0.0', port: 0, allowAnonymous: true });
    await expect(broker.start()).rejects.toMatchObject({
      code: 'EL_ERR_INSECURE_LISTENER',
      message: expect.stringMatching(
        /embedded MQTT broker.*0\.0\.0\.0:0.*allowAnonymous: false, or the option insecure: true, broker\.embedded\.insecure/,
      ),
    });
    expect(broker.url).toBeUndefined();
    await broker.close();
  });

  it('with insecure: true it listens and logs a loud warning; with credentials only it needs no option', async () => {
    const { logger, lines } = memoryLogger();
    const { broker } = await startBroker({ host: '0.0.0.0', allowAnonymous: true, insecure: true, logger });
    expect(lines.find((l) => l.level === 40 && /^INSECURE: /.test(l.msg))).toMatchObject({ host: '0.0.0.0' });
    // listening on every interface: reachable on loopback too (tests never leave the machine)
    expect((await connect(`mqtt://127.0.0.1:${broker.port}`, { clientId: 'anon-1' })).connected).toBe(true);

    const { broker: authed } = await startBroker({ host: '0.0.0.0' }); // passwords required: no warning needed
    expect((await connect(authed.url!, { clientId: 'dev-1', username: 'dev-1', password: 'pw-1' })).connected).toBe(
      true,
    );
    await expect(connect(authed.url!, { clientId: 'dev-2' })).rejects.toMatchObject({ code: 5 });
  });
});

describe('the simulator broker (no authentication)', () => {
  it('refuses a non-loopback host unless insecure: true', async () => {
    await expect(new SimulatorBroker({ host: '0.0.0.0' }).start()).rejects.toMatchObject({
      code: 'EL_ERR_INSECURE_LISTENER',
    });
    const { logger, lines } = memoryLogger();
    const b = new SimulatorBroker({ host: '0.0.0.0', insecure: true, logger });
    onTestFinished(() => b.close());
    await b.start();
    expect(lines).toMatchObject([{ level: 40, msg: expect.stringMatching(/^INSECURE: the simulator MQTT broker/) }]);
    expect((await connect(`mqtt://127.0.0.1:${b.port}`, { clientId: 'sim-1' })).connected).toBe(true);
  });
});

describe('edgeloop cloud config: broker.embedded.insecure', () => {
  it('refuses an anonymous broker on 0.0.0.0 from the config; starts it with insecure: true', async () => {
    const config = (insecure: boolean) =>
      parseCloudConfig({
        dataDir: tempDir(),
        only: ['broker'],
        http: { enabled: false },
        broker: { embedded: { host: '0.0.0.0', port: 0, allowAnonymous: true, insecure } },
      });
    const refused = createCloud(config(false));
    onTestFinished(() => refused.close());
    await expect(refused.start()).rejects.toThrow(/refusing to listen on 0\.0\.0\.0:0.*broker\.embedded\.insecure/);

    const open = createCloud(config(true));
    onTestFinished(() => open.close());
    await open.start();
    const broker = open.parts.get('broker')!.instance as EmbeddedBroker;
    expect((await connect(broker.url!, { clientId: 'anon-2' })).connected).toBe(true);
  });
});
