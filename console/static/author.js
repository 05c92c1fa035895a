// The authoring page without this file works the same; with it, Tab indents the YAML editor
// by two spaces (Shift+Tab outdents). Esc, then Tab, leaves the editor, so the keyboard is
// never trapped.
"use strict";
(function () {
  const editor = document.getElementById("source");
  if (!editor) return;
  const hint = document.querySelector(".author-js-hint");
  if (hint) hint.hidden = false;
  let leaving = false;
  editor.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { leaving = true; return; }
    if (event.key !== "Tab" || leaving || event.altKey || event.ctrlKey || event.metaKey) {
      leaving = false;
      return;
    }
    event.preventDefault();
    const text = editor.value;
    const start = editor.selectionStart;
    const end = editor.selectionEnd;
    const lineStart = text.lastIndexOf("\n", start - 1) + 1;
    if (!event.shiftKey && start === end) {
      editor.setRangeText("  ", start, end, "end");
      return;
    }
    const block = text.slice(lineStart, end);
    const changed = event.shiftKey
      ? block.replace(/^ {1,2}/gm, "")
      : block.replace(/^/gm, "  ");
    editor.setRangeText(changed, lineStart, end, "select");
  });
  editor.addEventListener("blur", function () { leaving = false; });
})();
