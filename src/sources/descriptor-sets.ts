// The gRPC descriptor sets a ShadowgateConfig names (compare.grpc.descriptorSets), read and checked for the config
// loader: a file that is missing, too large or not a FileDescriptorSet is a config error that says which and why.
import { readFileSync, statSync } from 'node:fs';
import { checkDescriptorSet } from '../compare/index.js';
import { MAX_SOURCE_BYTES, type ReadDescriptorSet } from '../config/index.js';

export const readDescriptorSet: ReadDescriptorSet = (file) => {
  try {
    // Checked before reading, as config files are: a FIFO is never read, a huge file never loaded.
    const st = statSync(file);
    if (!st.isFile()) return { error: 'not a regular file' };
    if (st.size > MAX_SOURCE_BYTES) return { error: `${st.size} bytes, more than ${MAX_SOURCE_BYTES}` };
    const bytes = readFileSync(file);
    const { methods } = checkDescriptorSet(bytes);
    if (methods === 0) return { error: 'a descriptor set without any service: nothing to decode gRPC messages with' };
    return { bytes };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { error: code ? `cannot read: ${code}` : (err as Error).message };
  }
};
