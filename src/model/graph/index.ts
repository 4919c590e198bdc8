export { OpKind, OP_META, MAX_OP_INPUTS, MAX_OP_OUTPUTS, MAX_OP_PARAMS, opMeta } from './ops.js';
export type { OpMeta } from './ops.js';
export { GraphBuilder, TensorRef, TensorRole, DTYPE_TO_GGML, shapeElements } from './builder.js';
export type { GraphDesc, GraphWeight, OpParamsInit, StateDType, TensorDType, TensorSpec } from './builder.js';
