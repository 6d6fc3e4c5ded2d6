// The reviewers' page: sign in, claim a batch, move and decide with the keyboard.
// The server renders every piece of markup; this script fetches fragments with the
// reviewer's key (kept in sessionStorage, sent as a Bearer token) and swaps them in.
"use strict";

(() => {
  const KEY_NAME = "strikeout.reviewerKey";
  const RETRY_S = 5;  // after the queue could not be reached
  const PARAMS = new URLSearchParams(location.search);
  const TIER = PARAMS.get("tier") === "senior" ? "senior" : "standard";
  // With no case held, the page asks for new work this often (`?refill_s=` changes it).
  const REFILL_S = Number(PARAMS.get("refill_s")) > 0 ? Number(PARAMS.get("refill_s")) : 30;
  const DECISIONS = { c: "counterfeit", n: "not_counterfeit", e: "escalate" };
  const DONE_WORDS = { counterfeit: "counterfeit", not_counterfeit: "not counterfeit",
                       escalate: "escalated" };
  const NOT_DECIDABLE = { decided: "This case is already decided",
                          escalated: "This case went to the senior queue",
                          closed: "This case was closed outside the queue",
                          "claimed-elsewhere": "This case is no longer yours" };
  const REPEATABLE = new Set(["j", "k"]);  // holding these keys moves on; nothing else repeats
  const $ = (selector) => document.querySelector(selector);

  const state = { ids: [], index: 0, selected: new Set(), saving: new Set(), notes: new Map(),
                  chain: Promise.resolve(), worked: false, renewing: null, refilling: null,
                  claimFailed: false };

  class Refused extends Error {
    constructor(status, detail) { super(detail); this.status = status; }
  }

  async function call(path, options = {}) {
    const key = sessionStorage.getItem(KEY_NAME);
    const headers = { Authorization: `Bearer ${key}` };
    if (options.json !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method: options.method || "GET", headers,
      body: options.json === undefined ? undefined : JSON.stringify(options.json),
    });
    if (!response.ok) {
      let detail = response.statusText;
      try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON */ }
      if (response.status === 401) signOut(`Sign-in refused: ${detail}.`);
      throw new Refused(response.status, typeof detail === "string" ? detail : JSON.stringify(detail));
    }
    return options.html ? response.text() : response.json();
  }

  // Claims, renewals and decisions run one at a time, in the order asked; moving between
  // cases never waits for them.
  function enqueue(task) {
    state.chain = state.chain.then(task).catch((error) => say(error.message, true));
  }

  function fragment(html) {
    const template = document.createElement("template");
    template.innerHTML = html;
    return template.content;
  }

  function say(text, bad = false) {
    const message = $("#message");
    message.textContent = text;
    message.classList.toggle("bad", bad);
  }

  // --- signing in and out ---------------------------------------------------------------

  async function start() {
    try {
      await refreshStats();
    } catch (error) {
      if (error.status === 403) signOut("That key is not a reviewer key.");
      else if (error.status !== 401) {  // down or starting: the key stays, the page retries
        $("#sign-in-error").textContent =
          `Cannot reach the queue (${error.message}); trying again in ${RETRY_S} s.`;
        setTimeout(start, RETRY_S * 1000);
      }
      return;
    }
    $("#sign-in").hidden = true;
    $("#desk").hidden = false;
    $("#bar").hidden = false;
    $("#session").hidden = false;
    $("#tier").textContent = TIER === "senior" ? "senior queue" : "";
    const other = $("#other-tier");
    other.textContent = TIER === "senior" ? "standard queue" : "senior queue";
    other.href = TIER === "senior" ? "review" : "review?tier=senior";
    const escalate = document.querySelector('.shortcuts [data-key="e"]');
    if (escalate) escalate.hidden = TIER === "senior";  // escalated cases end here
    if (document.activeElement instanceof HTMLElement) document.activeElement.blur();
    const leaseMs = Number(document.body.dataset.leaseMinutes) * 60_000;
    if (state.renewing === null) state.renewing = setInterval(() => enqueue(renew), leaseMs / 3);
    scheduleRefill(REFILL_S);
    enqueue(claim);
  }

  function signOut(why = "") {
    sessionStorage.removeItem(KEY_NAME);
    clearInterval(state.renewing);
    state.renewing = null;
    clearTimeout(state.refilling);
    state.refilling = null;
    $("#sign-in").hidden = false;
    $("#desk").hidden = true;
    $("#bar").hidden = true;
    $("#session").hidden = true;
    $("#stats").replaceChildren();
    $("#sign-in-error").textContent = why;
    $("#key").focus();
  }

  // --- the batch ------------------------------------------------------------------------

  async function refreshStats() {
    const html = await call("review/stats", { html: true });
    $("#stats").replaceChildren(fragment(html));
    const actor = document.querySelector("#stats .who-actor");
    if (actor) $("#who").textContent = actor.textContent;
  }

  // After work is done the numbers are a courtesy: failing to fetch them loses nothing.
  async function refreshStatsIfUp() {
    try { await refreshStats(); } catch (_) { /* the header keeps its last numbers */ }
  }

  // Claims a batch (the reviewer's live leases first, then new cases); true if it came.
  async function claim() {
    let html;
    try {
      html = await call("review/claim", { method: "POST", json: { tier: TIER }, html: true });
    } catch (error) {
      if (error.status === 403) {
        signOut(TIER === "senior" ? `${error.message}: sign in with a senior reviewer key.`
                                  : error.message);
      } else if (error.status !== 401) {
        const retrySeconds = Math.min(RETRY_S, REFILL_S);
        say(`Cannot claim cases: ${error.message}; trying again in ${retrySeconds} s ` +
            "(r to try now).", true);
        state.claimFailed = true;
        scheduleRefill(retrySeconds);
      }
      return false;
    }
    if (state.claimFailed) say("");
    state.claimFailed = false;
    showBatch(fragment(html));
    await refreshStatsIfUp();
    return true;
  }

  function showBatch(parts) {
    const list = parts.querySelector(".batch-list");
    const cards = parts.querySelector(".cards");
    $("#batch").replaceChildren(list || parts.querySelector(".empty") || "");
    $("#case").replaceChildren(cards || "");
    state.ids = list ? [...list.querySelectorAll("li")].map((li) => li.dataset.caseId) : [];
    state.selected.clear();
    state.saving.clear();
    state.notes.clear();
    $("#note").value = "";
    for (const li of document.querySelectorAll("#batch li")) {
      li.addEventListener("click", () => show(state.ids.indexOf(li.dataset.caseId)));
    }
    show(0);
  }

  // With no case held, the page asks for new work every REFILL_S seconds while it is on
  // screen, so a reviewer waiting on an empty queue gets the next cases without a key.
  function scheduleRefill(seconds) {
    clearTimeout(state.refilling);
    state.refilling = setTimeout(refill, seconds * 1000);
  }

  function refill() {
    scheduleRefill(REFILL_S);
    // asked again when its turn comes: a claim queued behind a slow one may find work
    if (!document.hidden && !holdsCases()) enqueue(() => (holdsCases() ? false : claim()));
  }

  // The `r` key: new work now if none is held; the numbers at the top, in any case.
  async function lookForWork() {
    if (holdsCases()) {
      const open = state.ids.filter(isOpen).length;
      say(`${open} case${open > 1 ? "s" : ""} of this batch still open: j / k to ` +
          `${open > 1 ? "them" : "it"}.`);
      await refreshStatsIfUp();
      return;
    }
    say("Looking for new cases…");
    if (await claim()) say(holdsCases() ? "" : "No new cases yet; the page keeps looking.");
  }

  function item(id) { return document.querySelector(`#batch li[data-case-id="${CSS.escape(id)}"]`); }
  function card(id) { return document.querySelector(`#case .case-card[data-case-id="${CSS.escape(id)}"]`); }
  function currentId() { return state.ids[state.index]; }
  function isOpen(id) { return item(id)?.dataset.status === "open"; }
  function isDecidable(id) { return isOpen(id) && !state.saving.has(id); }
  function holdsCases() { return state.ids.some(isOpen); }

  // The batch list's line for a case: its status, the words shown, and why (said again if
  // the reviewer tries to decide it).
  // (a case no longer listed, after a new batch replaced the list, has no line to mark)
  function mark(id, status, words, why = "") {
    const li = item(id);
    if (!li) return;
    li.dataset.status = status;
    li.dataset.why = why;
    li.querySelector(".item-state").textContent = words;
  }

  function show(index) {
    if (!state.ids.length) return;
    keepNote();
    state.index = Math.max(0, Math.min(index, state.ids.length - 1));
    const current = currentId();
    for (const id of state.ids) {
      card(id).hidden = id !== current;
      item(id).classList.toggle("current", id === current);
    }
    item(current).scrollIntoView({ block: "nearest" });
    $("#case").scrollTop = 0;
    $("#note").value = state.notes.get(current) || "";
  }

  // A note belongs to the case it was typed on: it stays with that case while the
  // reviewer looks at others, and comes back with it.
  function keepNote() {
    const id = currentId();
    const text = $("#note").value;
    if (id && text) state.notes.set(id, text);
    else if (id) state.notes.delete(id);
  }

  function toggleSelected() {
    const id = currentId();
    if (!id || !isDecidable(id)) return;
    if (state.selected.has(id)) state.selected.delete(id); else state.selected.add(id);
    item(id).classList.toggle("selected", state.selected.has(id));
    say(state.selected.size ? `${state.selected.size} selected: c / n / e decides them all.` : "");
  }

  function unselect(id) {
    state.selected.delete(id);
    item(id)?.classList.remove("selected");
  }

  // --- leases ---------------------------------------------------------------------------

  // Every third of a lease, the open cases of the batch get a full lease again if the
  // reviewer pressed a key or clicked since the last renewal: a reviewer slower than a
  // lease keeps the batch, and an abandoned tab lets it go within a lease and a third.
  async function renew() {
    const held = state.ids.filter(isOpen);
    if (!state.worked || !held.length) return;
    state.worked = false;
    let outcome;
    try {
      outcome = await call("queue/renew", { method: "POST", json: { case_ids: held } });
    } catch (error) {
      if (error.status === 401) return;
      state.worked = true;  // the work still counts: the next tick tries again
      say(`Cannot renew the claims: ${error.message}`, true);
      return;
    }
    const lost = outcome.lost.filter(isOpen);
    for (const id of lost) {
      mark(id, "claimed-elsewhere", "lease ran out", "its lease ran out while the page was idle");
      unselect(id);
    }
    if (!lost.length) return;
    const gone = `${lost.length} case${lost.length > 1 ? "s" : ""} went back to the queue ` +
                 "while the page was idle";
    if (holdsCases()) {
      say(`${gone}; j / k to the others.`, true);
    } else {
      say(`${gone}; here is a new batch.`, true);
      await claim();
    }
  }

  // --- deciding -------------------------------------------------------------------------

  // A decision key decides the case on screen when it is pressed (or the selected cases),
  // with the note typed on it. The cases are marked as saving at once: a second key on
  // them does nothing, and keys for other cases wait their turn.
  function pressDecision(decision) {
    if (decision === "escalate" && TIER === "senior") {
      say("This is the senior queue: decide the case with c / n.", true);
      return;
    }
    const pressedOn = currentId();
    const targets = state.selected.size ? [...state.selected] : [pressedOn];
    const ids = targets.filter((id) => id && isDecidable(id));
    if (!ids.length) { say(whyNotDecidable(targets[0]), true); return; }
    const note = $("#note").value.trim() || null;
    for (const id of ids) markSaving(id, true);
    say(`Saving ${ids.join(", ")}…`);
    enqueue(() => decide(ids, decision, note, pressedOn));
  }

  function whyNotDecidable(id) {
    if (!id) return "No case to decide here; r looks for new cases.";
    if (state.saving.has(id)) return `${id} is still being saved.`;
    const li = item(id);
    const why = li.dataset.why ? `: ${li.dataset.why}` : "";
    const then = holdsCases() ? "j / k to move" : "r looks for new cases";
    return `${NOT_DECIDABLE[li.dataset.status] || "This case cannot be decided"}${why}; ${then}.`;
  }

  function markSaving(id, saving) {
    if (saving) state.saving.add(id); else state.saving.delete(id);
    const li = item(id);
    if (!li) return;
    li.classList.toggle("saving", saving);
    li.querySelector(".item-state").textContent = saving ? "saving…" : "";
  }

  // Posts each decision in turn and reports every outcome, saved or not. A saved decision
  // is shown decided from the server's answer, whatever happens after.
  async function decide(ids, decision, note, pressedOn) {
    const outcomes = [];
    let saved = 0;
    let failed = false;
    for (const [at, id] of ids.entries()) {
      let outcome;
      try {
        outcome = await call(`cases/${encodeURIComponent(id)}/decision`,
                             { method: "POST", json: { decision, note } });
      } catch (error) {
        if (error.status === 401) {
          signedOutWhileDeciding(error, ids.slice(at), outcomes);
          return;
        }
        markSaving(id, false);
        failed = true;
        outcomes.push(`${id}: not saved, ${refusalWords(error)}`);
        if (error.status === 409) await refused(id, error);
        continue;
      }
      markSaving(id, false);
      mark(id, decision === "escalate" ? "escalated" : "decided", DONE_WORDS[decision]);
      unselect(id);
      outcomes.push(describe(outcome));
      saved += 1;
      await rereadCard(id);
    }
    if (saved === ids.length) forgetNote(pressedOn);  // kept to try again if any failed
    say(outcomes.join(" · "), failed);
    // Moving on is for a reviewer still looking at the case decided, not one who moved.
    if (currentId() === pressedOn && !isOpen(pressedOn)) showNextOpen();
    await refreshStatsIfUp();
    if (!holdsCases()) await claim();
  }

  function refusalWords(error) {
    const holder = /claimed by (\S+)/.exec(error.message);
    return error.status === 409 && holder ? `another reviewer holds it (${error.message})`
                                          : error.message;
  }

  function signedOutWhileDeciding(error, unsaved, outcomes) {
    const cases = unsaved.join(", ");
    const lost = unsaved.length > 1 ? `The decisions on ${cases} were not saved.`
                                    : `The decision on ${cases} was not saved.`;
    const before = outcomes.length ? ` Before that: ${outcomes.join(" · ")}.` : "";
    signOut(`Sign-in refused: ${error.message}. ${lost}${before}`);
  }

  function forgetNote(id) {
    state.notes.delete(id);
    if (currentId() === id) $("#note").value = "";
  }

  function describe(outcome) {
    const parts = [`${outcome.case_id}: ${DONE_WORDS[outcome.decision]}`];
    if (outcome.listing_taken_down) parts.push("listing taken down");
    const strikes = outcome.complaints.filter((c) => c.strike_recorded).length;
    if (strikes) parts.push(`${strikes} strike${strikes > 1 ? "s" : ""}`);
    if (outcome.complaints.some((c) => c.frozen_now)) parts.push("seller frozen");
    return parts.join(", ");
  }

  // The server refused a decision (409): a case another reviewer holds leaves play; one
  // decided or closed meanwhile shows so.
  async function refused(id, error) {
    const why = refusalWords(error);
    const holder = /claimed by (\S+)/.exec(error.message);
    if (holder) mark(id, "claimed-elsewhere", `held by ${holder[1]}`, why);
    const status = await rereadCard(id);
    if (!holder && status && status !== "open") mark(id, status, status, why);
  }

  // Re-renders a case's card from the server and returns its status; a card that cannot
  // be read again stays as it was (the list and the message say what happened).
  async function rereadCard(id) {
    let fresh;
    try {
      const html = await call(`review/cases/${encodeURIComponent(id)}`, { html: true });
      fresh = fragment(html).querySelector(".case-card");
    } catch (_) {
      return null;
    }
    const old = card(id);
    if (!old) return fresh.dataset.status;  // a new batch replaced the list meanwhile
    fresh.hidden = old.hidden;
    old.replaceWith(fresh);
    return fresh.dataset.status;
  }

  function showNextOpen() {
    const after = state.ids.slice(state.index + 1).concat(state.ids.slice(0, state.index + 1));
    const open = after.find(isDecidable);
    if (open) show(state.ids.indexOf(open));
  }

  // --- keys -----------------------------------------------------------------------------

  function keyAction(key) {
    if (key === "j") return () => show(state.index + 1);
    if (key === "k") return () => show(state.index - 1);
    if (key === "x") return toggleSelected;
    if (key === "r") return () => enqueue(lookForWork);
    if (key === "/") return () => $("#note").focus();
    if (key in DECISIONS) return () => pressDecision(DECISIONS[key]);
    return null;
  }

  function onKey(event) {
    if ($("#desk").hidden || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement) {
      if (event.key === "Escape") target.blur();
      return;
    }
    const key = event.key.toLowerCase();
    const action = keyAction(key);
    if (!action) return;
    event.preventDefault();
    // A key held down repeats: that may move through the cases, never decide them.
    if (event.repeat && !REPEATABLE.has(key)) return;
    action();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("#sign-in-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(KEY_NAME, $("#key").value.trim());
      $("#key").value = "";
      $("#sign-in-error").textContent = "";
      start();
    });
    $("#sign-out").addEventListener("click", () => signOut());
    document.addEventListener("keydown", onKey);
    for (const type of ["keydown", "pointerdown"]) {
      document.addEventListener(type, () => { state.worked = true; }, { capture: true });
    }
    if (sessionStorage.getItem(KEY_NAME)) start(); else $("#key").focus();
  });
})();
