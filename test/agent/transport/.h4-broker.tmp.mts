import { startMosquitto } from '../../helpers/mosquitto.ts';
const b = await startMosquitto();
console.log(b.port);
setTimeout(() => b.close(), 600000);
