// Render the formulas that pymdownx.arithmatex (generic mode) wraps in .arithmatex elements,
// with the KaTeX shipped beside this file; document$ also fires after Material's instant loads.
document$.subscribe(({ body }) => {
  for (const element of body.querySelectorAll(".arithmatex")) {
    renderMathInElement(element, {
      delimiters: [
        { left: "\\(", right: "\\)", display: false },
        { left: "\\[", right: "\\]", display: true },
      ],
      throwOnError: false,
    });
  }
});
