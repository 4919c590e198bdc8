/**
 * The forward graph as data (design §2.1): tensors (inputs, session state, weights, activations, views) and ops
 * over them, built in TS and compiled once by a backend (src/runtime/backend.ts). build() flattens it into
 * typed arrays (NativeGraphDesc) so it crosses N-API in one call.
 *
 * Shapes are ggml order (ne0 first, the contiguous dim), 1 to 4 dims. Every structural mistake (unknown op,
 * wrong arity, foreign tensor, bad shape, duplicate name) throws QwenHybridError INVALID_ARGUMENT here; the
 * op-specific shape/type rules are the native validators' and surface from compile().
 */
import { QwenHybridError } from '../../errors.js';
import { GGMLType, ggmlTensorBytes, ggmlTypeTraits } from '../../gguf/types.js';
import type { NativeGraphDesc, WeightHandle } from '../../native/types.js';
import { MAX_OP_INPUTS, MAX_OP_PARAMS, OpKind, opMeta } from './ops.js';

/** Element types of inputs, outputs, activations and state. */
export type TensorDType = 'f32' | 'i32' | 'f16' | 'bf16';

/**
 * Types a state tensor may have: the element types, plus the block type 'q8_0' (ggml Q8_0: 32 values as an f16
 * scale + 32 int8, 34 bytes; ne0 must be a multiple of 32) for quantized KV caches. Only state (and views of it)
 * may be block-typed: inputs and outputs cross N-API as element arrays.
 */
export type StateDType = TensorDType | 'q8_0';

export const DTYPE_TO_GGML: Readonly<Record<StateDType, GGMLType>> = { f32: GGMLType.F32, i32: GGMLType.I32, f16: GGMLType.F16, bf16: GGMLType.BF16, q8_0: GGMLType.Q8_0 };

/** native/core/plan.h TensorRole. */
export enum TensorRole {
  Activation = 0,
  Input = 1,
  State = 2,
  Weight = 3,
  View = 4,
}

/** What a graph needs of a weight: src/runtime/backend.ts WeightTensor implements it. */
export interface GraphWeight {
  readonly name: string;
  readonly type: GGMLType;
  readonly shape: readonly number[];
  /** The native handle; throws DISPOSED after dispose(). */
  nativeHandle(): WeightHandle;
}

export interface OpParamsInit {
  /** Up to 8 integer params (p.i[]). */
  i?: readonly number[];
  /** Up to 8 float params (p.f[]). */
  f?: readonly number[];
}

export interface TensorSpec {
  dtype: TensorDType;
  shape: readonly number[];
}

/** A tensor of one GraphBuilder. */
export class TensorRef {
  /** @internal */
  constructor(
    /** @internal */ readonly builder: GraphBuilder,
    readonly id: number,
    readonly role: TensorRole,
    readonly type: GGMLType,
    readonly shape: readonly number[],
    readonly name: string,
  ) {}

  /** Bytes of the tensor (contiguous). */
  get byteSize(): number {
    return ggmlTensorBytes(this.type, this.shape);
  }
}

interface OpRecord {
  kind: OpKind;
  inputs: number[];
  outputs: number[];
  i: number[];
  f: number[];
}

interface TensorRecord {
  ref: TensorRef;
  weight: GraphWeight | null;
  viewOf: number;
  viewOffset: number;
}

/** The flattened graph: the native description plus the weights it references (kept alive by the plan). */
export interface GraphDesc {
  readonly native: NativeGraphDesc;
  readonly weights: readonly GraphWeight[];
  readonly inputs: readonly { name: string; dtype: TensorDType; shape: readonly number[] }[];
  readonly states: readonly { name: string; dtype: StateDType; shape: readonly number[] }[];
  readonly outputs: readonly { name: string; type: GGMLType; shape: readonly number[] }[];
}

function bad(message: string, details: Record<string, unknown> = {}): QwenHybridError {
  return new QwenHybridError('INVALID_ARGUMENT', message, details);
}

function checkShape(shape: readonly number[], what: string): number[] {
  if (!Array.isArray(shape) || shape.length < 1 || shape.length > 4) throw bad(`${what}: shape must have 1 to 4 dims, got ${JSON.stringify(shape)}`);
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 1) throw bad(`${what}: shape ${JSON.stringify(shape)} has a dim that is not a positive integer`);
  }
  return [...shape];
}

function checkDType(dtype: string, what: string): GGMLType {
  const t = dtype === 'q8_0' ? undefined : DTYPE_TO_GGML[dtype as TensorDType];
  if (t === undefined) throw bad(`${what}: dtype must be 'f32', 'i32', 'f16' or 'bf16', got ${JSON.stringify(dtype)}`);
  return t;
}

/** checkDType plus the block types (state and views); a block type needs ne0 to be a whole number of blocks. */
function checkStateDType(dtype: string, shape: readonly number[], what: string): GGMLType {
  const t = DTYPE_TO_GGML[dtype as StateDType];
  if (t === undefined) throw bad(`${what}: dtype must be 'f32', 'i32', 'f16', 'bf16' or 'q8_0', got ${JSON.stringify(dtype)}`);
  const block = (ggmlTypeTraits(t) as { blockSize: number }).blockSize;
  if ((shape[0] as number) % block !== 0) throw bad(`${what}: ne0 ${shape[0]} is not a multiple of the ${dtype} block size ${block}`, { shape: [...shape] });
  return t;
}

function elements(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export class GraphBuilder {
  readonly #tensors: TensorRecord[] = [];
  readonly #ops: OpRecord[] = [];
  readonly #outputs: { name: string; id: number }[] = [];
  readonly #names = { input: new Set<string>(), state: new Set<string>(), output: new Set<string>() };
  readonly #weightIds = new Map<GraphWeight, number>();

  #add(role: TensorRole, type: GGMLType, shape: number[], name: string, weight: GraphWeight | null = null, viewOf = -1, viewOffset = 0): TensorRef {
    const ref = new TensorRef(this, this.#tensors.length, role, type, shape, name);
    this.#tensors.push({ ref, weight, viewOf, viewOffset });
    return ref;
  }

  #own(t: TensorRef, what: string): TensorRecord {
    if (!(t instanceof TensorRef) || t.builder !== this) throw bad(`${what}: not a tensor of this GraphBuilder`);
    return this.#tensors[t.id] as TensorRecord;
  }

  #uniqueName(kind: 'input' | 'state' | 'output', name: string): void {
    if (typeof name !== 'string' || name.length === 0) throw bad(`${kind} name must be a non-empty string`);
    if (this.#names[kind].has(name)) throw bad(`duplicate ${kind} name '${name}'`);
    this.#names[kind].add(name);
  }

  /** A per-run input, copied in by plan.run({ [name]: array }). */
  input(name: string, dtype: TensorDType, shape: readonly number[]): TensorRef {
    const type = checkDType(dtype, `input '${name}'`);
    const s = checkShape(shape, `input '${name}'`);
    this.#uniqueName('input', name);
    return this.#add(TensorRole.Input, type, s, name);
  }

  /** A session state tensor (KV cache, conv state, GDN state): lives in plan.createState() buffers, updated in place by ops. */
  state(name: string, dtype: StateDType, shape: readonly number[]): TensorRef {
    const s = checkShape(shape, `state '${name}'`);
    const type = checkStateDType(dtype, s, `state '${name}'`);
    this.#uniqueName('state', name);
    return this.#add(TensorRole.State, type, s, name);
  }

  /** A weight tensor (zero-copy mapped or copied bytes). The same weight added twice is one tensor. */
  weight(w: GraphWeight): TensorRef {
    const existing = this.#weightIds.get(w);
    if (existing !== undefined) return (this.#tensors[existing] as TensorRecord).ref;
    if (w === null || typeof w !== 'object' || typeof w.nativeHandle !== 'function') throw bad('weight(): expected a WeightTensor');
    const ref = this.#add(TensorRole.Weight, w.type, checkShape(w.shape, `weight '${w.name}'`), w.name, w);
    this.#weightIds.set(w, ref.id);
    return ref;
  }

  /**
   * A contiguous reinterpretation of `t`'s bytes (reshape, or a slice at a byte offset): no copy. E.g. a per-head
   * view {head_dim, n_head, T} of {n_embd, T}. Bytes [byteOffset, byteOffset + size) must lie inside `t`.
   */
  view(t: TensorRef, shape: readonly number[], opts: { dtype?: StateDType; byteOffset?: number } = {}): TensorRef {
    const rec = this.#own(t, 'view()');
    const base = rec.viewOf >= 0 ? (this.#tensors[rec.viewOf] as TensorRecord) : rec;
    const s = checkShape(shape, 'view()');
    const type = opts.dtype !== undefined ? checkStateDType(opts.dtype, s, 'view()') : t.type;
    const off = (opts.byteOffset ?? 0) + rec.viewOffset;
    if (!Number.isSafeInteger(off) || off < 0) throw bad(`view(): byteOffset must be a non-negative integer`);
    const traits = ggmlTypeTraits(type);
    if (!traits) throw bad(`view(): unknown type ${type}`);
    if ((s[0] as number) % traits.blockSize !== 0) throw bad(`view(): ne0 ${s[0]} is not a multiple of the ${traits.name} block size`);
    const bytes = ggmlTensorBytes(type, s);
    if (off + bytes > base.ref.byteSize) {
      throw bad(`view(): bytes [${off}, ${off + bytes}) exceed tensor #${base.ref.id} (${base.ref.byteSize} bytes)`, { tensor: base.ref.id });
    }
    return this.#add(TensorRole.View, type, s, base.ref.name, null, base.ref.id, off);
  }

  /** Appends an op; returns its output tensors (new activations). */
  op(kind: OpKind, inputs: readonly TensorRef[], outputs: readonly TensorSpec[], params: OpParamsInit = {}): TensorRef[] {
    const meta = opMeta(kind);
    const label = `op #${this.#ops.length} (${meta?.name ?? kind})`;
    if (!meta) throw bad(`${label}: unknown op kind ${String(kind)}`);
    if (meta.nInputs >= 0 ? inputs.length !== meta.nInputs : inputs.length < 1 || inputs.length > MAX_OP_INPUTS) {
      throw bad(`${label}: takes ${meta.nInputs >= 0 ? meta.nInputs : `1 to ${MAX_OP_INPUTS}`} inputs, got ${inputs.length}`);
    }
    if (outputs.length !== meta.nOutputs) throw bad(`${label}: has ${meta.nOutputs} outputs, got ${outputs.length}`);
    const ins = inputs.map((t, k) => this.#own(t, `${label} input ${k}`).ref.id);
    const pi = [...(params.i ?? [])];
    const pf = [...(params.f ?? [])];
    if (pi.length > MAX_OP_PARAMS || pf.length > MAX_OP_PARAMS) throw bad(`${label}: at most ${MAX_OP_PARAMS} i and ${MAX_OP_PARAMS} f params`);
    for (const v of pi) if (!Number.isSafeInteger(v)) throw bad(`${label}: integer param ${v} is not a safe integer`);
    for (const v of pf) if (typeof v !== 'number' || Number.isNaN(v)) throw bad(`${label}: float param ${v} is not a number`);
    const specs = outputs.map((o, k) => ({ type: checkDType(o.dtype, `${label} output ${k}`), shape: checkShape(o.shape, `${label} output ${k}`) }));
    const outs = specs.map((o) => this.#add(TensorRole.Activation, o.type, o.shape, ''));
    this.#ops.push({ kind, inputs: ins, outputs: outs.map((t) => t.id), i: pi, f: pf });
    return outs;
  }

  /** Names `t` as a graph output: plan.run resolves with a copy of it under `name`. */
  output(name: string, t: TensorRef): void {
    this.#own(t, `output '${name}'`);
    this.#uniqueName('output', name);
    this.#outputs.push({ name, id: t.id });
  }

  get opCount(): number {
    return this.#ops.length;
  }

  /** Flattens the graph for compile(). The builder stays usable (a later build() includes later additions). */
  build(): GraphDesc {
    const n = this.#tensors.length;
    const nOps = this.#ops.length;
    const native: NativeGraphDesc = {
      tensorRoles: new Int32Array(n),
      tensorTypes: new Int32Array(n),
      tensorShapes: new Float64Array(4 * n).fill(1),
      tensorNames: [],
      tensorWeights: [],
      tensorViewOf: new Int32Array(n).fill(-1),
      tensorViewOffset: new Float64Array(n),
      opKinds: new Int32Array(nOps),
      opNumIn: new Int32Array(nOps),
      opNumOut: new Int32Array(nOps),
      opArgs: new Int32Array(this.#ops.reduce((a, o) => a + o.inputs.length + o.outputs.length, 0)),
      opParamsI: new Float64Array(8 * nOps),
      opParamsF: new Float32Array(8 * nOps),
      outputNames: this.#outputs.map((o) => o.name),
      outputTensors: Int32Array.from(this.#outputs.map((o) => o.id)),
    };
    const weights: GraphWeight[] = [];
    const inputs: { name: string; dtype: TensorDType; shape: readonly number[] }[] = [];
    const states: { name: string; dtype: StateDType; shape: readonly number[] }[] = [];
    const dtypeOf = (t: GGMLType) => (Object.keys(DTYPE_TO_GGML) as StateDType[]).find((k) => DTYPE_TO_GGML[k] === t) as StateDType;
    this.#tensors.forEach((rec, j) => {
      const r = rec.ref;
      native.tensorRoles[j] = r.role;
      native.tensorTypes[j] = r.type;
      r.shape.forEach((d, k) => (native.tensorShapes[4 * j + k] = d));
      native.tensorNames.push(r.role === TensorRole.View ? '' : r.name);
      native.tensorViewOf[j] = rec.viewOf;
      native.tensorViewOffset[j] = rec.viewOffset;
      if (rec.weight) {
        native.tensorWeights.push(rec.weight.nativeHandle());
        weights.push(rec.weight);
      } else {
        native.tensorWeights.push(null);
      }
      if (r.role === TensorRole.Input) inputs.push({ name: r.name, dtype: dtypeOf(r.type) as TensorDType, shape: r.shape });
      if (r.role === TensorRole.State) states.push({ name: r.name, dtype: dtypeOf(r.type), shape: r.shape });
    });
    let at = 0;
    this.#ops.forEach((op, i) => {
      native.opKinds[i] = op.kind;
      native.opNumIn[i] = op.inputs.length;
      native.opNumOut[i] = op.outputs.length;
      for (const id of [...op.inputs, ...op.outputs]) native.opArgs[at++] = id;
      op.i.forEach((v, k) => (native.opParamsI[8 * i + k] = v));
      op.f.forEach((v, k) => (native.opParamsF[8 * i + k] = v));
    });
    const outputs = this.#outputs.map((o) => {
      const r = (this.#tensors[o.id] as TensorRecord).ref;
      return { name: o.name, type: r.type, shape: r.shape };
    });
    return { native, weights, inputs, states, outputs };
  }
}

/** Elements of a shape (product of dims). */
export function shapeElements(shape: readonly number[]): number {
  return elements(shape);
}
