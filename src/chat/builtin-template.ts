/**
 * The built-in Qwen3.5 / Qwen3.6 chat template, used when a GGUF has no `tokenizer.chat_template`.
 * Our own Jinja text, written from the conventions in spec §5.3:
 *
 *   [<|im_start|>system\n# Tools\n\n{intro}\n<tools>\n{tool json}\n…\n</tools>\n\n{call format}[\n\n{system}]<|im_end|>\n]
 *   <|im_start|>{role}\n{content}<|im_end|>\n                                 (system / user turns)
 *   <|im_start|>assistant\n[<think>\n{reasoning}\n</think>\n\n]{content}[\n\n]<tool_call>…<|im_end|>\n
 *   <|im_start|>user\n<tool_response>\n{result}\n</tool_response>[\n<tool_response>…]<|im_end|>\n
 *   <|im_start|>assistant\n<think>\n                 (generation prompt, thinking on)
 *   <|im_start|>assistant\n<think>\n\n</think>\n\n   (generation prompt, enable_thinking = false)
 *
 * Rules:
 * - The `<think>` block is rendered (possibly empty) for assistant turns after the last real user query
 *   (a user turn that is not a `<tool_response>` wrapper), or for every assistant turn when
 *   `preserve_thinking` is true; older turns get their content only. With no user query at all every
 *   assistant turn counts as "after" it.
 * - Reasoning comes from `reasoning_content`, else from the text before `</think>` in `content`;
 *   reasoning is stripped of surrounding newlines and content of leading newlines.
 * - Tool-call arguments: strings raw, everything else as JSON (`tojson`); calls are separated from
 *   non-blank content by a blank line and from each other by one newline.
 * - Consecutive `tool` messages share one user turn, one `<tool_response>` block each.
 *
 * Jinja string literals below use `\n` escapes (the source is a String.raw literal).
 */
export const QWEN35_BUILTIN_CHAT_TEMPLATE = String.raw`{#- qwen-hybrid built-in template: Qwen3.5/3.6 ChatML + <think> + XML tool calls -#}
{%- set has_tools = tools is defined and tools is not none and tools|length > 0 -%}
{%- set system_first = messages|length > 0 and messages[0].role == 'system' -%}
{%- if has_tools -%}
    {{- '<|im_start|>system\n# Tools\n\nYou may call one or more of the functions below to help with the request. Each function is described by a JSON signature inside <tools></tools> XML tags:\n<tools>' -}}
    {%- for tool in tools -%}
        {{- '\n' + (tool | tojson) -}}
    {%- endfor -%}
    {{- '\n</tools>\n\nTo call a function, reply in exactly this format and write nothing after the last </tool_call>:\n\n<tool_call>\n<function=function_name>\n<parameter=parameter_name>\nvalue\n</parameter>\n<parameter=other_parameter>\na value that\nspans several lines\n</parameter>\n</function>\n</tool_call>\n\nRules:\n- Wrap every call in <tool_call></tool_call>, name the function in <function=...></function> and put each argument in its own <parameter=...></parameter> block.\n- Give every required parameter. Write strings as plain text and any other value as JSON.\n- You may reason or explain before a call, but not after it.\n- If no function is needed, answer directly.' -}}
    {%- if system_first and messages[0].content -%}
        {{- '\n\n' + messages[0].content -}}
    {%- endif -%}
    {{- '<|im_end|>\n' -}}
{%- elif system_first -%}
    {{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' -}}
{%- endif -%}
{%- set ns = namespace(last_query=-1) -%}
{%- for m in messages -%}
    {%- if m.role == 'user' and not (m.content.startswith('<tool_response>') and m.content.endswith('</tool_response>')) -%}
        {%- set ns.last_query = loop.index0 -%}
    {%- endif -%}
{%- endfor -%}
{%- set keep_all_thinking = preserve_thinking is defined and preserve_thinking is true -%}
{%- for m in messages -%}
    {%- if m.role == 'system' -%}
        {%- if not loop.first -%}
            {{- '<|im_start|>system\n' + m.content + '<|im_end|>\n' -}}
        {%- endif -%}
    {%- elif m.role == 'user' -%}
        {{- '<|im_start|>user\n' + m.content + '<|im_end|>\n' -}}
    {%- elif m.role == 'assistant' -%}
        {%- set content = m.content -%}
        {%- set reasoning = '' -%}
        {%- if m.reasoning_content is defined and m.reasoning_content is string -%}
            {%- set reasoning = m.reasoning_content -%}
        {%- elif '</think>' in content -%}
            {%- set reasoning = content.split('</think>')[0].split('<think>')[-1] -%}
            {%- set content = content.split('</think>')[-1] -%}
        {%- endif -%}
        {%- set reasoning = reasoning.strip('\n') -%}
        {%- set content = content.lstrip('\n') -%}
        {%- if keep_all_thinking or loop.index0 > ns.last_query -%}
            {{- '<|im_start|>assistant\n<think>\n' + reasoning + '\n</think>\n\n' + content -}}
        {%- else -%}
            {{- '<|im_start|>assistant\n' + content -}}
        {%- endif -%}
        {%- if m.tool_calls is defined and m.tool_calls -%}
            {%- for call in m.tool_calls -%}
                {%- set fn = call.function if call.function is defined else call -%}
                {%- if loop.first -%}
                    {%- if content | trim -%}
                        {{- '\n\n' -}}
                    {%- endif -%}
                {%- else -%}
                    {{- '\n' -}}
                {%- endif -%}
                {%- if fn.arguments is string -%}
                    {{- raise_exception('tool call arguments must be an object (or a string holding a JSON object)') -}}
                {%- endif -%}
                {{- '<tool_call>\n<function=' + fn.name + '>\n' -}}
                {%- for arg_name, arg_value in fn.arguments | items -%}
                    {{- '<parameter=' + arg_name + '>\n' -}}
                    {%- if arg_value is string -%}
                        {{- arg_value -}}
                    {%- else -%}
                        {{- arg_value | tojson -}}
                    {%- endif -%}
                    {{- '\n</parameter>\n' -}}
                {%- endfor -%}
                {{- '</function>\n</tool_call>' -}}
            {%- endfor -%}
        {%- endif -%}
        {{- '<|im_end|>\n' -}}
    {%- elif m.role == 'tool' -%}
        {%- if loop.first or messages[loop.index0 - 1].role != 'tool' -%}
            {{- '<|im_start|>user' -}}
        {%- endif -%}
        {{- '\n<tool_response>\n' + m.content + '\n</tool_response>' -}}
        {%- if loop.last or messages[loop.index0 + 1].role != 'tool' -%}
            {{- '<|im_end|>\n' -}}
        {%- endif -%}
    {%- else -%}
        {{- raise_exception('unknown message role: ' + m.role) -}}
    {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '<|im_start|>assistant\n' -}}
    {%- if enable_thinking is defined and enable_thinking is false -%}
        {{- '<think>\n\n</think>\n\n' -}}
    {%- else -%}
        {{- '<think>\n' -}}
    {%- endif -%}
{%- endif -%}
`;
