// The live view: the list of deployments and one deployment's picture, fetched from the
// stand-in again every second (its own state, drawn on the server). Bounded: a fetch that
// fails is shown, and retried on the next tick.
const chosen = new URLSearchParams(location.search).get("deployment");
const status = document.getElementById("live-status");
async function text(url) {
  const response = await fetch(url, { cache: "no-store" });
  if (!response.ok) throw new Error(url + ": HTTP " + response.status);
  return response.text();
}
async function refresh() {
  try {
    const list = document.getElementById("list");
    list.innerHTML = await text("/ui/deployments");
    const row = (chosen && list.querySelector(`tr[data-id="${CSS.escape(chosen)}"]`))
      || list.querySelector('tr[data-status="InProgress"]')
      || list.querySelector("tr[data-id]");
    if (row) {
      const picture = await text("/ui/deployments/" + encodeURIComponent(row.dataset.id));
      document.getElementById("picture").innerHTML = picture;
    }
    status.textContent = "updated " + new Date().toLocaleTimeString();
  } catch (error) {
    status.textContent = "cannot reach the stand-in (" + error.message + "); retrying";
  }
  setTimeout(refresh, 1000);
}
refresh();
