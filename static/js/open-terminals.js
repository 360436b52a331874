// The open terminals of the student over whose shoulder the page looks, live: the server
// sends the table's rows over /ws/classes/{slug}/students/{name}/sessions/ on connect
// and again whenever the student opens or closes a terminal (rendered, and escaped,
// as the page renders them).
import { connect } from "./socket.js";

const root = document.getElementById("open-terminals");
const rows = root.querySelector("[data-sessions] tbody");

connect(root.dataset.path, {
  status: root.querySelector("[data-status]"),
  final: { 4404: "This student is not in a class of yours." },
  onMessage(event) {
    const message = JSON.parse(event.data);
    if (message.type === "sessions") rows.innerHTML = message.rows;
  },
});
