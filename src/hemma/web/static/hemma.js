// Small progressive enhancements; every page works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Ask before actions that end care or open emergency access.
  document.querySelectorAll("button.danger").forEach((button) => {
    button.addEventListener("click", (event) => {
      const text = document.documentElement.lang === "en" ? "Are you sure?" : "Är du säker?";
      if (!window.confirm(text)) event.preventDefault();
    });
  });
  // The held-bed place only matters when a bed is held.
  const held = document.getElementById("held_bed");
  const where = document.getElementById("held_bed_location");
  if (held && where) {
    const field = where.closest(".field");
    const sync = () => { field.hidden = !held.checked; };
    held.addEventListener("change", sync);
    sync();
  }
});
