// Keyboard shortcuts for the rating page, and one submission per click.
(function () {
  const form = document.getElementById("rating-form");
  if (!form) return;
  const players = { a: document.getElementById("audio-a"), b: document.getElementById("audio-b") };
  const answers = Array.from(form.querySelectorAll("input[name=answer]"));
  document.addEventListener("keydown", function (event) {
    const typing = event.target.tagName === "TEXTAREA" || event.target.tagName === "INPUT" &&
      event.target.type === "text";
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key.toLowerCase();
    if (key in players) {
      const other = players[key === "a" ? "b" : "a"];
      other.pause();
      if (players[key].paused) players[key].play(); else players[key].pause();
      event.preventDefault();
    } else if (key >= "1" && key <= "5") {
      answers[Number(key) - 1].checked = true;
      event.preventDefault();
    } else if (key === "enter") {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", function () {
    document.getElementById("submit").disabled = true;
  });
})();
