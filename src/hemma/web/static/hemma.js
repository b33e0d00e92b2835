// Small progressive enhancements; every page works without this file.
"use strict";
document.documentElement.classList.add("js");
document.addEventListener("DOMContentLoaded", () => {
  // On a phone the main menu folds behind one button.
  const toggle = document.querySelector(".menu-toggle");
  const nav = document.getElementById("mainnav");
  if (toggle && nav) {
    toggle.addEventListener("click", () => {
      const open = nav.classList.toggle("open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }
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
  // The round: what a booked visit needs only matters with "book a visit", and its date
  // only when it is not today.
  const decision = document.querySelector("#round-form select[name=decision]");
  const booking = document.getElementById("visit-booking");
  if (decision && booking) {
    const when = booking.querySelector("select[name=visit_when]");
    const date = booking.querySelector("[name=visit_date]");
    const sync = () => {
      booking.hidden = decision.value !== "visit";
      if (when && date) date.closest(".field").hidden = when.value !== "date";
    };
    decision.addEventListener("change", sync);
    if (when) when.addEventListener("change", sync);
    sync();
  }
  // The round: why the patient returns, or how the episode ended, only with that decision.
  const withDecision = document.querySelectorAll("#round-form .with-decision");
  if (decision && withDecision.length) {
    const sync = () => {
      withDecision.forEach((el) => { el.hidden = decision.value !== el.dataset.decision; });
    };
    decision.addEventListener("change", sync);
    sync();
  }
  // Visits by two staff: how the two go together only matters when there are two.
  document.querySelectorAll("select[name=staff_count]").forEach((count) => {
    const form = count.form;
    const fields = ["sync", "gap_min", "gap_max"]
      .map((name) => form.querySelector(`[name=${name}]`))
      .filter(Boolean).map((input) => input.closest(".field"));
    const sync = () => { fields.forEach((field) => { field.hidden = count.value !== "2"; }); };
    count.addEventListener("change", sync);
    sync();
  });
  // The staff member's route: when the plan changes (an urgent visit, a colleague's sick
  // leave), say so and offer the new route; never reload under a form being filled in.
  const route = document.getElementById("my-route");
  if (route) {
    const shown = route.dataset.plan;
    const day = route.dataset.day;
    const banner = document.getElementById("route-changed");
    const check = async () => {
      try {
        const response = await fetch(`/my-route/version?day=${encodeURIComponent(day)}`,
                                     { credentials: "same-origin", cache: "no-store" });
        if (!response.ok) return;
        const data = await response.json();
        if ((data.plan_id || "") !== shown) {
          banner.hidden = false;
          return;
        }
      } catch (error) { /* offline for a moment: try again later */ }
      window.setTimeout(check, 5000);
    };
    window.setTimeout(check, 5000);
  }
});
