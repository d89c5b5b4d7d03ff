// The admin API's shapes: the server's own types (src/compare/report.ts, src/admin/traffic-types.ts), imported
// so they exist once; a change there that the page does not follow fails the UI's type-check (ui/tsconfig.json).
// Type-only imports: esbuild drops them, and nothing of the server reaches the bundle.
import type { SampleDoc } from '../../src/compare/report.js';

export type { TrafficMirror, TrafficRoute } from '../../src/admin/traffic-types.js';
export type {
  EndpointReport as Endpoint,
  FieldReport as Field,
  Headers,
  Message,
  Result,
  Run,
  RunSide as Side,
  SampleDoc as Sample,
  SampleRequest,
} from '../../src/compare/report.js';
export type { Interval } from '../../src/compare/types.js';
export type Diff = SampleDoc['diffs'][number];
