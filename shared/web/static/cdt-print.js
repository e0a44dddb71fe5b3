// The "print" button: shown only where a script runs (the page prints with Ctrl+P anyway).
document.querySelectorAll("[data-print]").forEach(function (button) {
  button.hidden = false;
  button.addEventListener("click", function () { window.print(); });
});
