/** The Transport contract against AwsIotTransport (aws-iot-device-sdk-v2 MQTT 5) on mosquitto, plain TCP on loopback. */
import { AwsIotTransport } from '../../transport/aws-iot-transport.ts';
import { startMosquitto } from '../helpers/mosquitto.ts';
import { describeTransportContract } from './transport-contract.ts';

describeTransportContract('AwsIotTransport on mosquitto (MQTT 5, plain TCP)', {
  startBroker: () => startMosquitto(),
  create: ({ host, port, ...rest }) =>
    new AwsIotTransport({ endpoint: host, port, insecurePlaintext: true, publishRatePerSecond: 0, ...rest }),
  clockDrivesReconnect: false,
  retransmitsUnackedOnResume: true,
});
