/**
 * Chat-level constraints as XGrammar structural tags: OpenAI's `response_format` (json_object, json_schema) and
 * `tool_choice` ('required' or a named function) for the Qwen XML tool-call format of the built-in template:
 *
 *   <tool_call>\n<function=NAME>\n<parameter=P>\nVALUE\n</parameter>\n…</function>\n</tool_call>
 *
 * (parameters per the function's JSON schema: parameterBlocks). A forced choice gives exactly one call. When the prompt leaves the
 * model inside `<think>` (thinking on), the reasoning stays free text up to `</think>` and the constraint applies
 * after the "\n\n" that follows it, as the template writes it.
 */
import { QwenHybridError } from '../errors.js';
import { normalizeTools } from '../chat/template.js';
import type { ToolDefinition } from '../chat/types.js';
import type { GrammarSpec, StructuralTagFormat } from './constraint.js';

export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  /** OpenAI's shape (`json_schema: { name, schema, strict }`) or the schema directly. */
  | { type: 'json_schema'; json_schema?: { name?: string; schema?: Record<string, unknown>; strict?: boolean }; schema?: Record<string, unknown> };

export type ToolChoice = 'auto' | 'none' | 'required' | { type: 'function'; function: { name: string } };

const bad = (parameter: string, msg: string): never => {
  throw new QwenHybridError('INVALID_ARGUMENT', msg, { parameter });
};

/** The content constraint of `responseFormat`, or undefined for text. */
function responseFormatContent(f: ResponseFormat): StructuralTagFormat | undefined {
  if (f === null || typeof f !== 'object') bad('responseFormat', `responseFormat must be {type: 'text' | 'json_object' | 'json_schema'}, got ${f === null ? 'null' : typeof f}`);
  switch (f.type) {
    case 'text':
      return undefined;
    case 'json_object':
      return { type: 'json_schema', json_schema: { type: 'object' } };
    case 'json_schema': {
      const schema = f.json_schema?.schema ?? f.schema;
      if (schema === null || typeof schema !== 'object') bad('responseFormat', "responseFormat json_schema needs a schema ({type:'json_schema', json_schema:{name, schema}})");
      return { type: 'json_schema', json_schema: schema as Record<string, unknown> };
    }
    default:
      return bad('responseFormat', `responseFormat.type must be 'text', 'json_object' or 'json_schema', got ${JSON.stringify((f as { type?: unknown }).type)}`);
  }
}

/** The tool-call constraint of `toolChoice`, or undefined for 'auto' / 'none'. */
function toolChoiceContent(choice: ToolChoice, tools: readonly ToolDefinition[] | undefined): StructuralTagFormat | undefined {
  if (choice === 'auto' || choice === 'none') return undefined;
  const fns = normalizeTools(tools ?? []).map((t) => t.function);
  let pick = fns;
  if (choice !== 'required') {
    if (choice === null || typeof choice !== 'object' || choice.type !== 'function' || typeof choice.function?.name !== 'string') {
      bad('toolChoice', "toolChoice must be 'auto', 'none', 'required' or {type:'function', function:{name}}");
    }
    pick = fns.filter((f) => f.name === choice.function.name);
    if (pick.length === 0) bad('toolChoice', `toolChoice names '${choice.function.name}', which is not among the tools (${fns.map((f) => f.name).join(', ') || 'none'})`);
  }
  if (pick.length === 0) bad('toolChoice', "toolChoice 'required' needs at least one tool");
  return {
    type: 'triggered_tags',
    triggers: ['<tool_call>'],
    tags: pick.map((f) => ({
      type: 'tag' as const,
      begin: `<tool_call>\n<function=${f.name}>\n`,
      content: parameterBlocks(f.parameters as Record<string, unknown> | undefined),
      end: '</function>\n</tool_call>',
    })),
    at_least_one: true,
    // One call: after it only EOG (the template: "write nothing after the last </tool_call>"). Several calls in one
    // forced reply would let free text run between them.
    stop_after_first: true,
  };
}

const escapeRegex = (t: string): string => t.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/**
 * A string parameter's value as the template writes it (raw text; ChatOutputParser reads it back as is): its enum as
 * alternatives, its `pattern` (anchors dropped), else text without '<' or a newline, at most maxLength characters.
 */
function stringValueRegex(s: Record<string, unknown>): string {
  if (Array.isArray(s.enum) && s.enum.every((x) => typeof x === 'string')) return (s.enum as string[]).map(escapeRegex).join('|');
  if (typeof s.pattern === 'string') return s.pattern.replace(/^\^/, '').replace(/\$$/, '');
  const max = typeof s.maxLength === 'number' ? Math.max(0, Math.floor(s.maxLength)) : undefined;
  const min = typeof s.minLength === 'number' ? Math.max(0, Math.floor(s.minLength)) : 0;
  return `[^<\\n]{${min},${max ?? ''}}`;
}

const isStringSchema = (s: Record<string, unknown>): boolean =>
  s.type === 'string' || (s.type === undefined && Array.isArray(s.enum) && s.enum.length > 0 && s.enum.every((x) => typeof x === 'string'));

/**
 * The parameter blocks of one call, exactly as the template writes them (`<parameter=P>\nVALUE\n</parameter>\n` per
 * property, in schema order; required ones always, optional ones may be left out): strings as raw text
 * (stringValueRegex), every other type as JSON per its schema. XGrammar's own qwen_xml_parameter format is not used:
 * it allows free whitespace around every element, in which a weak model wanders (measured on the demo model).
 */
function parameterBlocks(p: Record<string, unknown> | undefined): StructuralTagFormat {
  const props = p && p.properties !== null && typeof p.properties === 'object' ? (p.properties as Record<string, Record<string, unknown>>) : {};
  const required = new Set(Array.isArray(p?.required) ? (p!.required as string[]) : []);
  const elements: StructuralTagFormat[] = [];
  for (const [name, sch] of Object.entries(props)) {
    const value: StructuralTagFormat = sch && typeof sch === 'object' && isStringSchema(sch) ? { type: 'regex', pattern: stringValueRegex(sch) } : { type: 'json_schema', json_schema: sch ?? {} };
    const block: StructuralTagFormat = { type: 'sequence', elements: [{ type: 'const_string', value: `<parameter=${name}>\n` }, value, { type: 'const_string', value: '\n</parameter>\n' }] };
    elements.push(required.has(name) ? block : { type: 'or', elements: [block, { type: 'const_string', value: '' }] });
  }
  return elements.length === 0 ? { type: 'const_string', value: '' } : elements.length === 1 ? elements[0]! : { type: 'sequence', elements };
}

/**
 * The constraint for a chat turn, or undefined when nothing is constrained. `startInReasoning`: the prompt ends
 * inside `<think>` (file comment).
 */
export function chatConstraint(o: { responseFormat?: ResponseFormat; toolChoice?: ToolChoice; tools?: readonly ToolDefinition[]; startInReasoning: boolean }): GrammarSpec | undefined {
  const fmt = o.responseFormat !== undefined ? responseFormatContent(o.responseFormat) : undefined;
  const call = o.toolChoice !== undefined ? toolChoiceContent(o.toolChoice, o.tools) : undefined;
  if (fmt && call) bad('responseFormat', 'responseFormat and a forced toolChoice cannot be combined (the reply is either a JSON value or a tool call)');
  const content = fmt ?? call;
  if (!content) return undefined;
  // Without reasoning a response format is a plain JSON-schema grammar: compact JSON (constraint.ts), where the
  // structural tag's json_schema allows free whitespace.
  if (!o.startInReasoning && fmt) return { type: 'json_schema', schema: (fmt as { json_schema: Record<string, unknown> }).json_schema };
  const format: StructuralTagFormat = o.startInReasoning
    ? { type: 'sequence', elements: [{ type: 'tag', begin: '', content: { type: 'any_text' }, end: '</think>' }, { type: 'const_string', value: '\n\n' }, content] }
    : content;
  return { type: 'structural_tag', format };
}
