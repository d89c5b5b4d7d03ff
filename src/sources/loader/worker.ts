// The config-loading worker: reads the files and builds the snapshot off the serving thread, within the
// memory limit its parent gave it (issue 15: a config bomb or a 10,000-resource file must not stall traffic).
// It stays up between loads, so a reload costs the load, not a thread start and a module graph.
import { parentPort } from 'node:worker_threads';
import { loadSnapshot, type RawResource } from '../../config/index.js';
import { readDescriptorSet } from '../descriptor-sets.js';
import { servicesAsEntries } from '../file-services.js';
import { readSources } from '../files.js';
import type { LoadRequest, WorkerAnswer } from './protocol.js';

parentPort?.on('message', (req: LoadRequest) => {
  let answer: WorkerAnswer;
  try {
    const read = readSources(req.files);
    const extra: RawResource[] = req.extraResources.map((r) => ({ ...r, locate: () => undefined }));
    const snapshot = loadSnapshot(read.sources, [...read.problems, ...req.extraProblems], extra, servicesAsEntries, {
      gatewayController: req.gatewayController,
      readDescriptorSet,
    });
    answer = {
      id: req.id,
      type: 'loaded',
      hash: snapshot.hash,
      problems: snapshot.problems,
      resources: snapshot.resources,
      files: read.files,
      ...(snapshot.hash === req.currentHash ? {} : { snapshot }),
    };
  } catch (err) {
    answer = { id: req.id, type: 'failed', message: (err as Error).message };
  }
  parentPort?.postMessage(answer);
});
