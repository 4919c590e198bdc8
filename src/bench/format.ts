/**
 * Human views of a BenchReport, without dependencies:
 *   markdownTable(report)  a GitHub-markdown table (one row per case) under a line naming device, date and commit
 *   svgChart(report)       a horizontal bar chart, one bar per case: % of floor (default) or ratio vs peer × 100 %,
 *                          a dashed line at 100 %; a case without the figure gets an empty bar labelled "n/a"
 * Every text that comes from data (case names, device) is escaped for its format.
 */
import type { BenchCase, BenchReport } from './report.js';

const fmt = (v: number | null | undefined, digits = 1): string => (v === null || v === undefined ? '—' : v.toFixed(digits));

/** Escapes a markdown table cell: pipes and line breaks would break the row. */
function mdCell(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function throughput(c: BenchCase): string {
  if (c.decode_tok_s !== null) return `${fmt(c.decode_tok_s)} tok/s`;
  if (c.prefill_tok_s !== null) return `${fmt(c.prefill_tok_s)} tok/s`;
  const parts: string[] = [];
  if (c.gbs !== null) parts.push(`${fmt(c.gbs, 2)} GB/s`);
  if (c.tflops !== null) parts.push(`${fmt(c.tflops, 3)} TFLOP/s`);
  return parts.join(', ') || '—';
}

/** One line naming where and when, then the table. */
export function markdownTable(r: BenchReport): string {
  const floors = [
    r.copy_bw_gbs !== null ? `copy ${fmt(r.copy_bw_gbs)} GB/s` : null,
    r.gemm_tflops !== null ? `fp16 GEMM ${fmt(r.gemm_tflops)} TFLOP/s` : null,
  ].filter(Boolean).join(', ');
  const peer = r.peer ? (r.peer.available ? `peer ${r.peer.engine}` : `no peer (${r.peer.reason ?? 'not run'})`) : 'no peer';
  const head = `**${mdCell(r.bench)}** on ${mdCell(r.device)} (${r.backend}${r.threads !== null ? `, ${r.threads} threads` : ''}${r.driver ? `, driver ${mdCell(r.driver)}` : ''}), ` +
    `${r.date.slice(0, 10)}, commit ${r.commit ? r.commit.slice(0, 12) : 'unknown'}${r.dirty ? ' (dirty)' : ''}; floors: ${floors || 'none'}; ${mdCell(peer)}`;
  const lines = [
    head,
    '',
    '| case | median ms (min–max) | throughput | floor tok/s | % of floor | peer | ratio vs peer |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const c of r.cases) {
    const peerCell = c.peer ? (c.peer.tok_s !== null ? `${fmt(c.peer.tok_s)} tok/s` : `${fmt(c.peer.median_ms, 3)} ms`) : '—';
    lines.push(
      `| ${mdCell(c.name)} | ${fmt(c.median_ms, 3)} (${fmt(c.min_ms, 3)}–${fmt(c.max_ms, 3)}) | ${throughput(c)} | ${fmt(c.floor_tok_s)} | ` +
        `${c.pct_of_floor === null ? '—' : `${fmt(c.pct_of_floor)} %`} | ${peerCell} | ${c.ratio_vs_peer === null ? '—' : `${fmt(c.ratio_vs_peer, 2)}×`} |`,
    );
  }
  return lines.join('\n') + '\n';
}

/** Escapes text and attribute values for XML. */
export function xmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[ch]!);
}

export interface SvgOptions {
  /** 'pct_of_floor' (default) or 'ratio_vs_peer' (drawn as ratio × 100 %). */
  metric?: 'pct_of_floor' | 'ratio_vs_peer';
  title?: string;
}

/** A standalone SVG document (open it in a browser). */
export function svgChart(r: BenchReport, opts: SvgOptions = {}): string {
  const metric = opts.metric ?? 'pct_of_floor';
  const value = (c: BenchCase): number | null => (metric === 'pct_of_floor' ? c.pct_of_floor : c.ratio_vs_peer === null ? null : 100 * c.ratio_vs_peer);
  const label = metric === 'pct_of_floor' ? '% of floor (measured in the same run)' : 'ours ÷ peer (100 % = same speed)';
  const title = opts.title ?? `${r.bench} — ${r.device} (${r.backend}), ${r.date.slice(0, 10)}, ${r.commit ? r.commit.slice(0, 12) : 'unknown commit'}`;
  const values = r.cases.map(value);
  const maxV = Math.max(100, ...values.filter((v): v is number => v !== null));
  const scaleMax = Math.ceil(maxV / 25) * 25;
  const labelW = 360;
  const barW = 480;
  const rowH = 22;
  const top = 56;
  const width = labelW + barW + 90;
  const height = top + rowH * r.cases.length + 40;
  const x = (v: number): number => labelW + (barW * v) / scaleMax;
  const out: string[] = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${xmlEscape(title)}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${xmlEscape(title)}</text>`,
    `<text x="10" y="40" fill="#444444">${xmlEscape(label)}</text>`,
  ];
  for (let t = 0; t <= scaleMax; t += 25) {
    out.push(`<line x1="${x(t).toFixed(1)}" y1="${top - 4}" x2="${x(t).toFixed(1)}" y2="${top + rowH * r.cases.length}" stroke="${t === 100 ? '#aa0000' : '#dddddd'}"${t === 100 ? ' stroke-dasharray="4 3"' : ''}/>`);
    out.push(`<text x="${x(t).toFixed(1)}" y="${top + rowH * r.cases.length + 16}" text-anchor="middle" fill="#444444">${t} %</text>`);
  }
  r.cases.forEach((c, i) => {
    const v = values[i]!;
    const y = top + i * rowH;
    const w = v === null ? 0 : Math.max(0, x(v) - labelW);
    out.push(`<text x="${labelW - 8}" y="${y + 15}" text-anchor="end">${xmlEscape(c.name)}</text>`);
    out.push(`<rect class="bar" x="${labelW}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${metric === 'pct_of_floor' ? '#3b6fb6' : '#d9822b'}"><title>${xmlEscape(`${c.name}: ${v === null ? 'n/a' : `${v.toFixed(1)} %`}`)}</title></rect>`);
    out.push(`<text x="${(labelW + w + 6).toFixed(1)}" y="${y + 15}">${v === null ? 'n/a' : `${v.toFixed(1)} %`}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
