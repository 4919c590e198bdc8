/**
 * Mirror of native/core/op_list.h (the one op list both backends share). Ids are part of the graph format:
 * append only. test/unit/graph-ops.test.ts checks this table against the addon's opList() export and the
 * header text. Semantics (shapes, params) are documented per op in op_list.h.
 */
export enum OpKind {
  GET_ROWS = 0,
  MATMUL = 1,
  MATMUL_ID = 2,
  RMS_NORM = 3,
  L2_NORM = 4,
  SILU = 5,
  SIGMOID = 6,
  SOFTPLUS = 7,
  EXP = 8,
  SCALE = 9,
  ADD = 10,
  MUL = 11,
  SWIGLU = 12,
  COPY_STRIDED = 13,
  ROPE_NEOX = 14,
  ATTENTION = 15,
  SSM_CONV = 16,
  GATED_DELTA_NET = 17,
  GATED_RMS_NORM = 18,
  MOE_ROUTER = 19,
  MOE_COMBINE = 20,
  LOG_SOFTMAX = 21,
  ARGMAX = 22,
  TOP_K = 23,
  SAMPLE = 24,
}

export interface OpMeta {
  readonly kind: OpKind;
  readonly name: keyof typeof OpKind;
  /** -1: variable (1 to MAX_OP_INPUTS; e.g. RMS_NORM's optional weight). */
  readonly nInputs: number;
  readonly nOutputs: number;
}

/** native/core/op.h kMaxOpInputs / kMaxOpOutputs. */
export const MAX_OP_INPUTS = 8;
export const MAX_OP_OUTPUTS = 4;
/** OpParams: 8 int64 (i) and 8 float (f) params per op. */
export const MAX_OP_PARAMS = 8;

const m = (kind: OpKind, nInputs: number, nOutputs: number): OpMeta => ({ kind, name: OpKind[kind] as keyof typeof OpKind, nInputs, nOutputs });

/** Indexed by op id. */
export const OP_META: readonly OpMeta[] = [
  m(OpKind.GET_ROWS, 2, 1),
  m(OpKind.MATMUL, 2, 1),
  m(OpKind.MATMUL_ID, 3, 1),
  m(OpKind.RMS_NORM, -1, 1),
  m(OpKind.L2_NORM, 1, 1),
  m(OpKind.SILU, 1, 1),
  m(OpKind.SIGMOID, 1, 1),
  m(OpKind.SOFTPLUS, 1, 1),
  m(OpKind.EXP, 1, 1),
  m(OpKind.SCALE, 1, 1),
  m(OpKind.ADD, 2, 1),
  m(OpKind.MUL, 2, 1),
  m(OpKind.SWIGLU, 2, 1),
  m(OpKind.COPY_STRIDED, 1, 1),
  m(OpKind.ROPE_NEOX, 2, 1),
  m(OpKind.ATTENTION, 6, 1),
  m(OpKind.SSM_CONV, 3, 1),
  m(OpKind.GATED_DELTA_NET, 6, 1),
  m(OpKind.GATED_RMS_NORM, 3, 1),
  m(OpKind.MOE_ROUTER, 1, 2),
  m(OpKind.MOE_COMBINE, 2, 1),
  m(OpKind.LOG_SOFTMAX, 1, 1),
  m(OpKind.ARGMAX, 1, 1),
  m(OpKind.TOP_K, 1, 2),
  m(OpKind.SAMPLE, 3, 1),
];

export function opMeta(kind: OpKind): OpMeta | undefined {
  return Number.isInteger(kind) ? OP_META[kind] : undefined;
}
