/** GGUF container: types, reader (header/metadata/tensor table), writer, metadata accessors, split models. */
export * from './types.js';
export * from './reader.js';
export * from './writer.js';
export * from './metadata.js';
export * from './split.js';
