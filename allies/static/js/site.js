// Progressive enhancements only: every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  // Live character counters for fields with a limit.
  document.querySelectorAll("[data-counter]").forEach((field) => {
    const limit = Number(field.dataset.counter);
    const output = document.getElementById(field.id + "-count");
    if (!output) return;
    const update = () => {
      const used = field.value.length;
      // The page's own words (data-words, e.g. "{used} de {limit} caracteres"), else English.
      const words = output.dataset.words || "{used} of {limit} characters";
      output.textContent = words.replace("{used}", used).replace("{limit}", limit);
      output.classList.toggle("over", used > limit);
    };
    field.addEventListener("input", update);
    update();
  });
  // Move focus to the error summary so keyboard and screen-reader users hear what to fix.
  const summary = document.getElementById("error-summary");
  if (summary) summary.focus();
  // Filters submit when the type changes.
  document.querySelectorAll("select[data-autosubmit]").forEach((select) => {
    select.addEventListener("change", () => select.form.submit());
  });
});
