/** The Transport contract against MqttTransport: aedes (MQTT 3.1.1), mosquitto (MQTT 3.1.1 and MQTT 5). */
import { MqttTransport } from '../../transport/mqtt-transport.ts';
import { startTestBroker } from '../helpers/aedes-broker.ts';
import { startMosquitto } from '../helpers/mosquitto.ts';
import { describeTransportContract, type ContractTransportOptions } from './transport-contract.ts';

function create(protocolVersion: 4 | 5) {
  return (o: ContractTransportOptions): MqttTransport => {
    const { host, port, ...rest } = o;
    return new MqttTransport({ url: `mqtt://${host}:${port}`, protocolVersion, ...rest });
  };
}

describeTransportContract('MqttTransport on aedes (MQTT 3.1.1)', {
  startBroker: async () => {
    const b = await startTestBroker();
    return { host: '127.0.0.1', port: b.port, url: b.url, stop: b.stop, restart: b.restart, close: b.close };
  },
  create: create(4),
  clockDrivesReconnect: true,
});

describeTransportContract('MqttTransport on mosquitto (MQTT 5)', {
  startBroker: () => startMosquitto(),
  create: create(5),
  clockDrivesReconnect: true,
});
