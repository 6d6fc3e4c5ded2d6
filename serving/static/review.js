// The reviewers' page: sign in, claim a batch, move and decide with the keyboard.
// The server renders every piece of markup; this script fetches fragments with the
// reviewer's key (kept in sessionStorage, sent as a Bearer token) and swaps them in.
"use strict";

(() => {
  const KEY_NAME = "strikeout.reviewerKey";
  const RETRY_S = 5;  // after the queue could not be reached
  const DECISIONS = { c: "counterfeit", n: "not_counterfeit", e: "escalate" };
  const DONE_WORDS = { counterfeit: "counterfeit", not_counterfeit: "not counterfeit",
                       escalate: "escalated" };
  const $ = (selector) => document.querySelector(selector);
  const TIER = new URLSearchParams(location.search).get("tier") === "senior" ? "senior" : "standard";

  const state = { ids: [], index: 0, selected: new Set(), chain: Promise.resolve(),
                  worked: false, renewing: null };

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
    if (state.renewing === null) {
      // in turn with the keys' actions, so a renewal never lands inside a decision
      state.renewing = setInterval(() => {
        state.chain = state.chain.then(renew).catch((error) => say(error.message, true));
      }, leaseMs / 3);
    }
    await claim();
  }

  function signOut(why = "") {
    sessionStorage.removeItem(KEY_NAME);
    clearInterval(state.renewing);
    state.renewing = null;
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

  async function claim() {
    let html;
    try {
      html = await call("review/claim", { method: "POST", json: { tier: TIER }, html: true });
    } catch (error) {
      if (error.status === 403) {
        signOut(TIER === "senior" ? `${error.message}: sign in with a senior reviewer key.`
                                  : error.message);
      }
      else say(`Cannot claim cases: ${error.message}`, true);
      return;
    }
    const parts = fragment(html);
    const list = parts.querySelector(".batch-list");
    const cards = parts.querySelector(".cards");
    $("#batch").replaceChildren(list || parts.querySelector(".empty") || "");
    $("#case").replaceChildren(cards || "");
    state.ids = list ? [...list.querySelectorAll("li")].map((li) => li.dataset.caseId) : [];
    state.selected.clear();
    for (const li of document.querySelectorAll("#batch li")) {
      li.addEventListener("click", () => show(state.ids.indexOf(li.dataset.caseId)));
    }
    show(0);
    await refreshStats();
  }

  function item(id) { return document.querySelector(`#batch li[data-case-id="${CSS.escape(id)}"]`); }
  function card(id) { return document.querySelector(`#case .case-card[data-case-id="${CSS.escape(id)}"]`); }
  function isOpen(id) { return item(id)?.dataset.status === "open"; }

  function show(index) {
    if (!state.ids.length) return;
    state.index = Math.max(0, Math.min(index, state.ids.length - 1));
    const current = state.ids[state.index];
    for (const id of state.ids) {
      card(id).hidden = id !== current;
      item(id).classList.toggle("current", id === current);
    }
    item(current).scrollIntoView({ block: "nearest" });
    $("#case").scrollTop = 0;
  }

  function toggleSelected() {
    const id = state.ids[state.index];
    if (!id || !isOpen(id)) return;
    if (state.selected.has(id)) state.selected.delete(id); else state.selected.add(id);
    item(id).classList.toggle("selected", state.selected.has(id));
    say(state.selected.size ? `${state.selected.size} selected: c / n / e decides them all.` : "");
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
      const li = item(id);
      li.dataset.status = "claimed-elsewhere";
      li.querySelector(".item-state").textContent = "lease ran out";
    }
    if (!lost.length) return;
    const gone = `${lost.length} case${lost.length > 1 ? "s" : ""} went back to the queue ` +
                 "while the page was idle";
    if (state.ids.some(isOpen)) {
      say(`${gone}; j / k to the others.`, true);
    } else {
      say(`${gone}; here is a new batch.`, true);
      await claim();
    }
  }

  // --- deciding -------------------------------------------------------------------------

  async function decide(decision) {
    if (decision === "escalate" && TIER === "senior") {
      say("This is the senior queue: decide the case with c / n.", true);
      return;
    }
    const targets = state.selected.size ? [...state.selected] : [state.ids[state.index]];
    const open = targets.filter((id) => id && isOpen(id));
    if (!open.length) { say("This case is already decided; j / k to move.", true); return; }
    const note = $("#note").value.trim() || null;
    const done = [];
    for (const id of open) {
      try {
        const outcome = await call(`cases/${encodeURIComponent(id)}/decision`,
                                   { method: "POST", json: { decision, note } });
        done.push(describe(outcome));
        await settle(id, decision);
      } catch (error) {
        if (error.status === 401) return;
        say(`${id}: ${error.message}`, true);
        if (error.status === 409) await settle(id, null, error.message);
        await refreshStats();
        return;
      }
    }
    for (const id of state.selected) item(id)?.classList.remove("selected");
    state.selected.clear();
    $("#note").value = "";
    say(done.join(" · "));
    await refreshStats();
    await next();
  }

  function describe(outcome) {
    const parts = [`${outcome.case_id}: ${DONE_WORDS[outcome.decision]}`];
    if (outcome.listing_taken_down) parts.push("listing taken down");
    const strikes = outcome.complaints.filter((c) => c.strike_recorded).length;
    if (strikes) parts.push(`${strikes} strike${strikes > 1 ? "s" : ""}`);
    if (outcome.complaints.some((c) => c.frozen_now)) parts.push("seller frozen");
    return parts.join(", ");
  }

  // Re-render a case's card from the server after `decision` (null: the server refused,
  // saying why in `refusal`); a case another reviewer holds leaves play, one still open
  // and ours stays decidable.
  async function settle(id, decision, refusal = "") {
    const li = item(id);
    const html = await call(`review/cases/${encodeURIComponent(id)}`, { html: true });
    const fresh = fragment(html).querySelector(".case-card");
    const old = card(id);
    fresh.hidden = old.hidden;
    old.replaceWith(fresh);
    let status = decision === "escalate" ? "escalated" : fresh.dataset.status;
    let words = decision ? DONE_WORDS[decision] : status;
    const holder = /claimed by (\S+)/.exec(refusal);
    if (status === "open" && holder) {
      status = "claimed-elsewhere";
      words = `held by ${holder[1]}`;
    }
    li.dataset.status = status;
    li.querySelector(".item-state").textContent = words;
  }

  async function next() {
    const after = state.ids.slice(state.index + 1).concat(state.ids.slice(0, state.index + 1));
    const open = after.find(isOpen);
    if (open) show(state.ids.indexOf(open));
    else await claim();
  }

  // --- keys -----------------------------------------------------------------------------

  function onKey(event) {
    if ($("#desk").hidden || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement) {
      if (event.key === "Escape") target.blur();
      return;
    }
    const key = event.key.toLowerCase();
    let action;
    if (key === "j") action = () => show(state.index + 1);
    else if (key === "k") action = () => show(state.index - 1);
    else if (key === "x") action = toggleSelected;
    else if (key in DECISIONS) action = () => decide(DECISIONS[key]);
    else if (key === "/") { $("#note").focus(); event.preventDefault(); return; }
    else return;
    event.preventDefault();
    // Keys act in the order pressed, each on the case current when its turn comes, so
    // pressing on while a decision is still being saved never hits the wrong case.
    state.chain = state.chain.then(action).catch((error) => say(error.message, true));
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
