// Reads an Istio Gateway so files that contain one load cleanly; serving Gateways comes later.
import { Fields, type Schema } from './fields.js';
import type { RawResource } from './parse.js';
import type { ResourceContext } from './problems.js';

const GATEWAY: Schema = { name: 'Gateway', fields: ['selector', 'servers'] };
const SERVER: Schema = { name: 'Server', fields: ['port', 'hosts', 'tls', 'bind', 'defaultEndpoint', 'name'] };
const PORT: Schema = { name: 'Port', fields: ['number', 'protocol', 'name', 'targetPort'] };

export function readGateway(res: RawResource, ctx: ResourceContext): void {
  const spec = new Fields(ctx, (res.object.spec as Record<string, unknown>) ?? {}, ['spec'], GATEWAY);
  spec.stringMap('selector');
  for (const s of spec.objects('servers', SERVER)) {
    const port = s.object('port', PORT);
    if (!port?.has('number')) ctx.error('missing-field', s.at('port'), 'a server needs port.number');
    port?.int('number', 1, 65535);
    if (s.strings('hosts').length === 0) ctx.error('missing-field', s.at('hosts'), 'a server needs at least one host');
  }
  ctx.report('info', 'not-served', [], 'Gateway resources are checked but not served yet');
}
