// "Use my position now" on the patient's details page: a staff member standing at the
// patient's door sends what the phone measures as the home's map position. The button only
// appears where the browser can tell its position; without this file the page still works.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("position-device");
  if (!form || !("geolocation" in navigator)) return;
  const button = form.querySelector("button");
  const hint = document.getElementById("position-device-hint");
  const error = document.getElementById("position-device-error");
  const reasons = { 1: "denied", 2: "unavailable", 3: "timeout" };
  form.hidden = false;
  if (hint) hint.hidden = false;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    button.disabled = true;
    error.hidden = true;
    navigator.geolocation.getCurrentPosition(
      (position) => {
        form.elements.latitude.value = position.coords.latitude;
        form.elements.longitude.value = position.coords.longitude;
        form.elements.accuracy_m.value = Math.round(position.coords.accuracy);
        form.submit(); // no second submit event: it goes straight to the server
      },
      (failure) => {
        button.disabled = false;
        error.textContent = error.dataset[reasons[failure.code] || "unavailable"];
        error.hidden = false;
      },
      // A fresh measurement, by satellite where the phone has it; a minute at most.
      { enableHighAccuracy: true, timeout: 60000, maximumAge: 0 },
    );
  });
});
