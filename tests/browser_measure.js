// Measures what a learner sees in the notebook currently shown by JupyterLab.
// Called by tests/test_browser.py through Playwright's page.evaluate(); returns plain JSON.
//
// Cells are scrolled into view one at a time before they are measured: JupyterLab 4 renders
// cells lazily (windowingMode "contentVisibility") and CodeMirror only lays out the lines in
// its viewport, so a cell far off screen has nothing to measure yet.
async () => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const notebook = panel.querySelector('.jp-Notebook');
  const frames = () =>
    new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  const SLACK = 1; // px: sub-pixel rounding is not an overflow

  // The right edge of what an element shows (its padding box, scrollbar excluded).
  const visibleRight = (el) => {
    const box = el.getBoundingClientRect();
    return box.left + el.clientLeft + el.clientWidth;
  };

  // Logical lines of a <pre>: [{text, rows, right}], rows = visual rows the line occupies.
  const preLines = (pre) => {
    const walker = document.createTreeWalker(pre, NodeFilter.SHOW_TEXT);
    const pieces = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) pieces.push(node);
    const lines = [];
    let current = { text: '', rects: [] };
    const flush = () => {
      const tops = new Set(current.rects.filter((r) => r.width > 0).map((r) => Math.round(r.top)));
      const right = Math.max(-Infinity, ...current.rects.map((r) => r.right));
      lines.push({ text: current.text, rows: tops.size, right });
      current = { text: '', rects: [] };
    };
    for (const node of pieces) {
      const text = node.textContent;
      let start = 0;
      while (start <= text.length) {
        const newline = text.indexOf('\n', start);
        const end = newline === -1 ? text.length : newline;
        if (end > start) {
          const range = document.createRange();
          range.setStart(node, start);
          range.setEnd(node, end);
          current.rects.push(...range.getClientRects());
          current.text += text.slice(start, end);
        }
        if (newline === -1) break;
        flush();
        start = newline + 1;
      }
    }
    if (current.text) flush();
    return lines;
  };

  const report = {
    cells: 0,
    codeCells: 0,
    codeLines: 0,
    codeLinesOverflowing: [],
    codeLinesWrapped: [],
    outputLines: 0,
    outputLinesWrapped: [],
    outputLinesOverflowing: [],
    boxesScrolling: [],
    mermaidSources: 0,
    mermaidSvgs: 0,
    mermaidErrors: [],
    stderr: [],
    prompts: [],
  };
  const cells = [...notebook.querySelectorAll('.jp-Cell')];
  report.cells = cells.length;
  for (const [index, cell] of cells.entries()) {
    cell.scrollIntoView({ block: 'start' });
    await frames();
    const where = `cell ${index + 1}`;
    if (cell.classList.contains('jp-CodeCell')) {
      report.codeCells += 1;
      // A collapsed input (the hidden solution cells) shows a placeholder with an empty prompt.
      const prompt = cell.querySelector('.jp-InputArea-prompt');
      const hidden = cell.querySelector('.jp-InputPlaceholder') !== null;
      report.prompts.push(hidden ? '(hidden)' : prompt ? prompt.textContent.trim() : '(no prompt)');
      const scroller = cell.querySelector('.jp-InputArea .cm-scroller');
      if (scroller && cell.querySelector('.jp-InputArea').offsetParent !== null) {
        const right = visibleRight(scroller);
        for (const line of scroller.querySelectorAll('.cm-line')) {
          report.codeLines += 1;
          const range = document.createRange();
          range.selectNodeContents(line);
          const textRight = range.getBoundingClientRect().right;
          const rows = new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
          if (rows > 1) {
            report.codeLinesWrapped.push({ where, rows, text: line.textContent.slice(0, 120) });
          }
          if (textRight > right + SLACK) {
            report.codeLinesOverflowing.push({
              where, px: Math.round(textRight - right), text: line.textContent.slice(0, 120),
            });
          }
        }
      }
      for (const output of cell.querySelectorAll('.jp-OutputArea-output')) {
        const mime = output.dataset.mimeType || '';
        if (mime === 'application/vnd.jupyter.stderr') {
          report.stderr.push({ where, text: output.textContent.slice(0, 2000) });
        }
        for (const pre of output.querySelectorAll('pre')) {
          // With pre-wrap a line's trailing spaces may hang past the edge: only a <pre> that
          // really scrolls has lines that overflow.
          const scrolls = pre.scrollWidth > pre.clientWidth + SLACK;
          const right = visibleRight(pre);
          for (const line of preLines(pre)) {
            report.outputLines += 1;
            const entry = { where, chars: line.text.length, text: line.text.slice(0, 160) };
            if (line.rows > 1) report.outputLinesWrapped.push({ ...entry, rows: line.rows });
            if (scrolls && line.right > right + SLACK) {
              report.outputLinesOverflowing.push({ ...entry, px: Math.round(line.right - right) });
            }
          }
        }
        for (const el of [output, ...output.querySelectorAll('*')]) {
          if (el.tagName === 'PRE' || el.closest('pre')) continue;
          if (el.scrollWidth > el.clientWidth + SLACK && getComputedStyle(el).overflowX !== 'visible') {
            report.boxesScrolling.push({
              where, tag: el.tagName.toLowerCase(), px: el.scrollWidth - el.clientWidth,
            });
          }
        }
      }
    } else if (cell.classList.contains('jp-MarkdownCell')) {
      const rendered = cell.querySelector('.jp-RenderedMarkdown');
      if (!rendered) continue;
      // JupyterLab 4 draws a diagram as an <img> of an SVG data URL (older versions: inline <svg>)
      report.mermaidSvgs += rendered.querySelectorAll(
        '.jp-RenderedMermaid:not(.jp-mod-warning) :is(img[src^="data:image/svg+xml"], svg)',
      ).length;
      for (const failed of rendered.querySelectorAll('.jp-RenderedMermaid.jp-mod-warning')) {
        report.mermaidErrors.push({ where, text: failed.textContent.slice(0, 300) });
      }
      for (const el of rendered.querySelectorAll('*')) {
        if (el.scrollWidth > el.clientWidth + SLACK && getComputedStyle(el).overflowX !== 'visible') {
          report.boxesScrolling.push({
            where, tag: el.tagName.toLowerCase(), px: el.scrollWidth - el.clientWidth,
          });
        }
      }
    }
  }
  panel.querySelector('.jp-WindowedPanel-outer').scrollTop = 0;
  return report;
}
