// A component's root element, in place of the one an earlier call of the component left.

export function replaceRoot(parentElement, className, html) {
  // A new <div class=className> holding `html`, appended to parentElement after the old one
  // (if any) is removed. Not replaceChildren: Streamlit keeps the component's <style> or
  // <link> in the same parent.
  const root = document.createElement("div");
  root.className = className;
  root.innerHTML = html;
  for (const old of parentElement.querySelectorAll(`.${className}`)) old.remove();
  parentElement.appendChild(root);
  return root;
}
