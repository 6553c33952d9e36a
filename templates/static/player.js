// Chapter buttons seek the player; the copy button copies the feed URL.
document.addEventListener("click", (event) => {
  const seek = event.target.closest("button.seek");
  if (seek) {
    const player = document.getElementById("player");
    player.currentTime = Number(seek.dataset.start);
    player.play().catch(() => {});
    return;
  }
  const copy = event.target.closest("button.copy");
  if (copy) {
    const input = document.getElementById(copy.dataset.copy);
    input.select();
    navigator.clipboard?.writeText(input.value).then(() => { copy.textContent = "Copied"; }, () => {});
  }
});
