// The dashboard: one page, a router on the URL fragment, every figure from the JSON API.
// Money arrives as exact decimal strings and is only ever formatted (Intl on the string,
// half-even to the currency's minor unit, as the report does): never parsed into a float
// for arithmetic. Charts plot numbers, but their tooltips show the exact string.
// The access token lives in this module's memory only; the refresh token is an HttpOnly
// cookie the page cannot read.

const state = { access: null, user: null, profile: null };
const main = document.getElementById("main");

// --- formatting -----------------------------------------------------------------------

const moneyFormats = new Map();
export function formatMoney(value, currency) {
  if (value === null || value === undefined) return "—";
  let format = moneyFormats.get(currency);
  if (!format) {
    format = new Intl.NumberFormat("en", {
      style: "currency", currency, currencyDisplay: "narrowSymbol", roundingMode: "halfEven",
    });
    moneyFormats.set(currency, format);
  }
  // A string is formatted as the exact decimal it spells (Intl.NumberFormat v3).
  return format.format(String(value)).replace(/\u00a0/g, " ");
}

const percentFormat = new Intl.NumberFormat("en", {
  minimumFractionDigits: 1, maximumFractionDigits: 1, roundingMode: "halfEven",
  signDisplay: "auto",
});
export function formatPercent(value, signed = false) {
  if (value === null || value === undefined) return "—";
  const text = percentFormat.format(String(value));
  return `${signed && !text.startsWith("-") && !/^0(\.0)?$/.test(text) ? "+" : ""}${text} %`;
}

const ratioFormat = new Intl.NumberFormat("en", {
  style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1, roundingMode: "halfEven",
  signDisplay: "exceptZero",
});
// A return or probability as the API gives it (a ratio as a decimal string: "0.0512").
export function formatRatio(value) {
  if (value === null || value === undefined) return "—";
  return ratioFormat.format(String(value)).replace(/\u00a0/g, " ").replace("%", " %");
}

function signedMoney(value, currency) {
  const text = formatMoney(value, currency);
  return String(value).startsWith("-") || /^0(\.0+)?$/.test(String(value)) ? text : `+${text}`;
}

function formatDay(iso) {
  if (!iso) return "never";
  const [y, m, d] = iso.slice(0, 10).split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d)).toLocaleDateString("en-GB", {
    day: "numeric", month: "short", year: "numeric", timeZone: "UTC",
  });
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// --- the API ----------------------------------------------------------------------------

class SignedOut extends Error {}

async function session(path, body) {
  const response = await fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body || {}),
  });
  if (!response.ok) return false;
  const answer = await response.json();
  state.access = answer.access;
  state.user = answer.user;
  return true;
}

async function api(path, retry = true) {
  if (!state.access) throw new SignedOut();
  const response = await fetch(path, {
    headers: { Authorization: `Bearer ${state.access}` }, credentials: "same-origin",
  });
  if (response.status === 401 && retry) {
    if (await session("/api/session/refresh/")) return api(path, false);
    state.access = null;
    throw new SignedOut();
  }
  if (!response.ok) {
    let detail = `${response.status}`;
    try { detail = (await response.json()).detail || detail; } catch { /* not JSON */ }
    throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  return response.json();
}

// --- charts -----------------------------------------------------------------------------

function isoToSeconds(iso) {
  const [y, m, d] = iso.split("-").map(Number);
  return Date.UTC(y, m - 1, d) / 1000;
}

function lineChart(container, points, series) {
  // points: [{date, ...}], series: [{label, key, currency}] -> a uPlot chart whose legend
  // (the tooltip) shows each point's exact amount.
  container.replaceChildren();
  if (!points.length || typeof uPlot === "undefined") {
    container.append(el("p", { class: "muted", text: "No history yet." }));
    return null;
  }
  const xs = points.map((p) => isoToSeconds(p.date));
  const data = [xs, ...series.map((s) => points.map((p) => (p[s.key] === null ? null : Number(p[s.key]))))];
  const colors = ["#0b6e4f", "#1a5fd0", "#8a5a00"];
  const width = Math.max(280, container.clientWidth || 600);
  const chart = new uPlot({
    width,
    height: width < 500 ? 220 : 300,
    scales: { x: { time: true } },
    axes: [{}, { size: 70, values: (u, ticks) => ticks.map((t) => compact(t)) }],
    series: [
      { label: "Day", value: (u, v, si, idx) => (idx === null || idx === undefined ? "" : points[idx].date) },
      ...series.map((s, i) => ({
        label: s.label,
        stroke: colors[i % colors.length],
        width: 2,
        spanGaps: false,
        value: (u, v, si, idx) =>
          idx === null || idx === undefined ? "" : formatMoney(points[idx][s.key], s.currency),
      })),
    ],
    cursor: { drag: { x: false, y: false } },
  }, data, container);
  return chart;
}

const compactFormat = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });
function compact(value) { return compactFormat.format(value); }

// --- pages ------------------------------------------------------------------------------

const RANGES = [["1M", 31], ["1Y", 366], ["5Y", 1827], ["All", 36600]];

function historyPath(days) {
  // Long windows ask for thinned points (exact values at the points returned).
  return `/api/wealth/history/?days=${days}${days > 366 ? "&points=800" : ""}`;
}

function rangePicker(onPick, initial = "1Y") {
  const buttons = RANGES.map(([label, days]) =>
    el("button", {
      type: "button", "aria-pressed": String(label === initial), "data-range": label,
      onclick: (event) => {
        for (const b of buttons) b.setAttribute("aria-pressed", String(b === event.currentTarget));
        onPick(days);
      },
    }, label));
  return el("div", { class: "ranges", role: "group", "aria-label": "Chart range" }, buttons);
}

function attentionItems(accounts, summary, profile) {
  const items = [];
  const today = new Date();
  const staleDays = Math.max(2, Math.ceil(2 * (profile.sync_frequency_hours || 24) / 24));
  if (summary.figures_note) {  // the demo offline: its figures stop where the rates stop
    items.push(el("li", {}, el("span", { class: "note", text: "As of the last day with rates: " }),
      summary.figures_note));
  }
  for (const account of accounts) {
    const name = account.name;
    if (account.status === "error") {
      items.push(el("li", {}, el("span", { class: "status-error", text: "Sync failed: " }),
        `${name}${account.status_message ? ` — ${account.status_message}` : ""}`));
    } else if (account.status === "pending_auth" || account.status === "waiting") {
      items.push(el("li", {}, el("span", { class: `status-${account.status}`, text: "Waiting for you: " }),
        `${name}${account.status_message ? ` — ${account.status_message}` : ""} `,
        el("code", { text: `wealth accounts sync ${account.id}` })));
    }
    const last = account.latest_snapshot && account.latest_snapshot.snapshot_date;
    if (account.status === "active" && last) {
      const age = (today - new Date(`${last}T00:00:00Z`)) / 86400000;
      const explained = summary.figures_note && last >= summary.as_of;  // said just above
      if (age > staleDays && !explained) items.push(el("li", {}, el("span", { class: "note", text: "Stale: " }),
        `${name} — last data ${formatDay(last)}`));
    }
  }
  for (const row of summary.accounts) {
    if (row.balance_base_currency === null) {
      items.push(el("li", {}, el("span", { class: "note", text: "Not converted: " }),
        `${row.account_name} — its ${formatDay(row.snapshot_date)} balance has no exchange rate yet, so the total leaves it out`));
    }
  }
  return items;
}

async function overview() {
  // Everything the page needs, asked for at once (the chart's year included).
  const [summary, changes, accounts, firstHistory, profile] = await Promise.all([
    api("/api/wealth/summary/"), api("/api/wealth/changes/"), api("/api/accounts/"),
    api(historyPath(366)), state.profile,
  ]);
  const base = summary.base_currency;
  const cards = [el("div", { class: "card", "data-figure": "net-worth" },
    el("div", { class: "label", text: `Net worth${summary.as_of ? ` on ${formatDay(summary.as_of)}` : ""}` }),
    el("div", { class: "value", text: formatMoney(summary.total_wealth, base) }),
    el("div", { class: "sub muted", text: `${summary.account_count} account(s)` }))];
  const titles = { week: "This week", month: "This month", year_to_date: "Year to date" };
  for (const change of changes.changes) {
    const direction = change.change === null ? "" : String(change.change).startsWith("-") ? "down" : "up";
    cards.push(el("div", { class: "card", "data-figure": `change-${change.period}` },
      el("div", { class: "label", text: `${titles[change.period]} (since ${formatDay(change.since)})` }),
      el("div", { class: `value ${direction}`, text: change.change === null ? "—" : signedMoney(change.change, base) }),
      el("div", { class: "sub" }, change.percentage === null ? "" : formatPercent(change.percentage, true)),
      change.note ? el("div", { class: "note", text: change.note }) : null));
  }
  const chartBox = el("div", { class: "chart", id: "net-worth-chart" });
  const plot = (history) =>
    lineChart(chartBox, history.history, [{ label: "Net worth", key: "total_wealth", currency: history.base_currency }]);
  const draw = async (days) => plot(await api(historyPath(days)));
  const attention = attentionItems(accounts, summary, profile);
  main.replaceChildren(
    el("h1", { text: "Overview" }),
    el("div", { class: "cards" }, cards),
    el("section", { class: "panel", "aria-label": "Net worth over time" },
      el("h2", { text: "Net worth over time" }), rangePicker(draw), chartBox),
    el("section", { class: "panel", "aria-label": "What needs attention" },
      el("h2", { text: "What needs attention" }),
      attention.length ? el("ul", { class: "attention" }, attention)
        : el("p", { class: "muted", text: "Nothing: every account is synced and converted." })),
  );
  plot(firstHistory);
}

function sharesByAccount(breakdown) {
  const shares = new Map();
  for (const row of breakdown.breakdown) shares.set(String(row.key), row.percentage);
  return shares;
}

async function accountsPage() {
  const [accounts, summary, byAccount] = await Promise.all([
    api("/api/accounts/"), api("/api/wealth/summary/"), api("/api/wealth/breakdown/?by=account"),
  ]);
  const base = summary.base_currency;
  const inBase = new Map(summary.accounts.map((a) => [a.account_id, a.balance_base_currency]));
  const shares = sharesByAccount(byAccount);
  const rows = accounts.map((a) => el("tr", { "data-account": a.id },
    el("td", {}, el("a", { href: `#/accounts/${a.id}`, text: a.name }),
      el("div", { class: "muted", text: a.broker.name })),
    el("td", { class: "num", text: a.latest_snapshot ? formatMoney(a.latest_snapshot.balance, a.latest_snapshot.currency) : "—" }),
    el("td", { class: "num", "data-col": "base", text: formatMoney(inBase.get(a.id) ?? null, base) }),
    el("td", { class: "num", "data-col": "share", text: shares.has(String(a.id)) ? formatPercent(shares.get(String(a.id))) : "—" }),
    el("td", { class: `status-${a.status}`, text: a.status }),
    el("td", { class: "hide-narrow", text: formatDay(a.latest_snapshot && a.latest_snapshot.snapshot_date) })));
  main.replaceChildren(el("h1", { text: "Accounts" }), el("div", { class: "panel" },
    el("table", {},
      el("caption", { text: `${accounts.length} account(s), total ${formatMoney(summary.total_wealth, base)}` }),
      el("thead", {}, el("tr", {}, el("th", { text: "Account" }), el("th", { class: "num", text: "Value" }),
        el("th", { class: "num", text: `In ${base}` }), el("th", { class: "num", text: "Share" }),
        el("th", { text: "Status" }), el("th", { class: "hide-narrow", text: "Last data" }))),
      el("tbody", {}, rows))));
}

async function accountPage(id) {
  const [account, snapshots] = await Promise.all([
    api(`/api/accounts/${id}/`), api(`/api/accounts/${id}/snapshots/?page_size=30`),
  ]);
  const chartBox = el("div", { class: "chart", id: "account-chart" });
  const draw = async (days) => {
    const history = await api(`/api/accounts/${id}/history/?days=${days}`);
    const series = [{ label: account.currency, key: "balance", currency: history.currency }];
    if (history.base_currency && history.base_currency !== history.currency) {
      series.push({ label: history.base_currency, key: "balance_base_currency", currency: history.base_currency });
    }
    lineChart(chartBox, history.history, series);
  };
  const rows = (snapshots.results || snapshots.snapshots || []).map((s) => el("tr", {},
    el("td", { text: formatDay(s.snapshot_date) }),
    el("td", { class: "num", text: formatMoney(s.balance, s.currency) }),
    el("td", { class: "num", text: s.balance_base_currency === null ? (s.conversion_note || "—") : formatMoney(s.balance_base_currency, s.base_currency) }),
    el("td", { class: "hide-narrow", text: s.snapshot_source })));
  main.replaceChildren(
    el("p", {}, el("a", { href: "#/accounts", text: "← All accounts" })),
    el("h1", { text: account.name }),
    el("p", { class: "muted" }, `${account.broker.name} · ${account.account_type} · ${account.currency} · status `,
      el("span", { class: `status-${account.status}`, text: account.status }),
      account.status_message ? ` — ${account.status_message}` : ""),
    el("section", { class: "panel", "aria-label": "Value over time" },
      el("h2", { text: "Value over time" }), rangePicker(draw), chartBox),
    el("section", { class: "panel" }, el("table", {},
      el("caption", { text: "Latest snapshots" }),
      el("thead", {}, el("tr", {}, el("th", { text: "Day" }), el("th", { class: "num", text: "Balance" }),
        el("th", { class: "num", text: "In base currency" }), el("th", { class: "hide-narrow", text: "Source" }))),
      el("tbody", {}, rows))));
  await draw(366);
}

function breakdownTable(title, data) {
  const base = data.base_currency;
  return el("section", { class: "panel", "data-breakdown": data.group_by }, el("table", {},
    el("caption", { text: title }),
    el("thead", {}, el("tr", {}, el("th", { text: "Group" }), el("th", { class: "num", text: `In ${base}` }),
      el("th", { class: "num", text: "Share" }), el("th", { class: "hide-narrow", text: "" }))),
    el("tbody", {}, data.breakdown.map((row) => {
      const bar = el("span");
      bar.style.width = `${Math.min(100, Math.max(0, Number(row.percentage)))}%`;
      return el("tr", {}, el("td", { text: row.category }),
        el("td", { class: "num", text: formatMoney(row.amount, base) }),
        el("td", { class: "num", text: formatPercent(row.percentage) }),
        el("td", { class: "hide-narrow" }, el("div", { class: "bar", "aria-hidden": "true" }, bar)));
    }))));
}

async function allocationPage() {
  const dimensions = [["asset_class", "By asset class"], ["currency", "By currency"],
    ["broker", "By broker"], ["account_type", "By account type"]];
  const answers = await Promise.all(dimensions.map(([by]) => api(`/api/wealth/breakdown/?by=${by}`)));
  main.replaceChildren(el("h1", { text: "Allocation" }),
    el("div", { class: "grid2" }, dimensions.map(([, title], i) => breakdownTable(title, answers[i]))));
}

async function holdingsPage() {
  const data = await api("/api/wealth/holdings/");
  const base = data.base_currency;
  const rows = data.holdings.map((h) => el("tr", {},
    el("td", {}, h.name || h.symbol || h.isin, el("div", { class: "muted", text: [h.symbol, h.isin].filter(Boolean).join(" · ") })),
    el("td", { class: "hide-narrow", text: h.asset_class }),
    el("td", { class: "num hide-narrow", text: h.quantity }),
    el("td", { class: "num", text: formatMoney(h.value_base_currency, base) }),
    el("td", { class: "num", text: formatPercent(h.percentage) })));
  main.replaceChildren(el("h1", { text: "Holdings" }),
    el("p", { class: "muted", text: `Merged across accounts${data.as_of ? `, as of ${formatDay(data.as_of)}` : ""}: ${formatMoney(data.total, base)} in all.` }),
    el("section", { class: "panel" }, el("table", {},
      el("caption", { text: `${data.holdings.length} holding(s)` }),
      el("thead", {}, el("tr", {}, el("th", { text: "Holding" }), el("th", { class: "hide-narrow", text: "Class" }),
        el("th", { class: "num hide-narrow", text: "Quantity" }), el("th", { class: "num", text: `In ${base}` }),
        el("th", { class: "num", text: "Share" }))),
      el("tbody", {}, rows))));
}


// --- returns ------------------------------------------------------------------------------

const PERIODS = [["week", "Week"], ["month", "Month"], ["ytd", "Year to date"], ["1y", "1 year"],
  ["3y", "3 years"], ["5y", "5 years"], ["max", "Since start"]];

function returnsCards(figures) {
  const base = figures.base_currency;
  const card = (key, label, value, sub) => el("div", { class: "card", "data-figure": key },
    el("div", { class: "label", text: label }), el("div", { class: "value", text: value }),
    sub ? el("div", { class: "sub muted", text: sub }) : null);
  return el("div", { class: "cards" },
    card("change", "Change in value", signedMoney(figures.change, base),
      `${formatDay(figures.start_date)} – ${formatDay(figures.end_date)}`),
    card("contributions", "You saved (net external flows)", signedMoney(figures.contributions, base)),
    card("markets", "Markets", signedMoney(figures.markets, base),
      `income ${formatMoney(figures.income, base)}, costs ${formatMoney(figures.costs, base)}`),
    card("currency_effect", "Currencies", signedMoney(figures.currency_effect, base)),
    card("twr", `Time-weighted${figures.annualised ? " (a year)" : ""}`, formatRatio(figures.time_weighted_return)),
    card("mwr", "Money-weighted (XIRR)", formatRatio(figures.money_weighted_return)),
    String(figures.unexplained).replace(/[-0.]/g, "") === "" ? null
      : card("unexplained", "Not explained (no flow data)", signedMoney(figures.unexplained, base)));
}

async function returnsPage(period = "ytd") {
  const data = await api(`/api/wealth/performance/?period=${period}`);
  const picker = el("div", { class: "ranges", role: "group", "aria-label": "Period" },
    PERIODS.map(([key, label]) => el("button", {
      type: "button", "aria-pressed": String(key === period), "data-period": key,
      onclick: () => { location.hash = `#/returns/${key}`; },
    }, label)));
  if (!data.total) {
    main.replaceChildren(el("h1", { text: "Returns" }), picker,
      el("p", { class: "muted", text: "No returns yet: they need at least two days of history." }));
    return;
  }
  const total = data.total;
  const base = total.base_currency;
  const rows = data.accounts.map((a) => el("tr", { "data-account": a.account_id },
    el("td", { text: a.account_name }),
    el("td", { class: "num", text: signedMoney(a.change, base) }),
    el("td", { class: "num", text: signedMoney(a.contributions, base) }),
    el("td", { class: "num hide-narrow", text: signedMoney(a.markets, base) }),
    el("td", { class: "num hide-narrow", text: signedMoney(a.currency_effect, base) }),
    el("td", { class: "num", text: formatRatio(a.time_weighted_return) }),
    el("td", { class: "num hide-narrow", text: formatRatio(a.money_weighted_return) })));
  main.replaceChildren(el("h1", { text: "Returns" }), picker, returnsCards(total),
    total.notes && total.notes.length ? el("ul", { class: "note" }, total.notes.map((n) => el("li", { text: n }))) : null,
    el("section", { class: "panel" }, el("table", {},
      el("caption", { text: "Per account" }),
      el("thead", {}, el("tr", {}, el("th", { text: "Account" }), el("th", { class: "num", text: "Change" }),
        el("th", { class: "num", text: "Saved" }), el("th", { class: "num hide-narrow", text: "Markets" }),
        el("th", { class: "num hide-narrow", text: "Currencies" }), el("th", { class: "num", text: "TWR" }),
        el("th", { class: "num hide-narrow", text: "MWR" }))),
      el("tbody", {}, rows))),
    el("p", { class: "muted", text: "Change = saved + markets + currencies (+ not explained). Time-weighted returns leave out when you paid in; money-weighted returns (XIRR) count it. Beyond a year both are per year." }));
}

// --- projection ---------------------------------------------------------------------------

function fanChart(container, bands, currency) {
  container.replaceChildren();
  if (!bands.length || typeof uPlot === "undefined") return;
  const keys = ["p5", "p25", "p50", "p75", "p95"];
  const xs = bands.map((b) => isoToSeconds(b.date));
  const data = [xs, ...keys.map((k) => bands.map((b) => Number(b[k])))];
  const width = Math.max(280, container.clientWidth || 600);
  const names = { p5: "5 %", p25: "25 %", p50: "Median", p75: "75 %", p95: "95 %" };
  new uPlot({
    width, height: width < 500 ? 240 : 320,
    scales: { x: { time: true } },
    axes: [{}, { size: 70, values: (u, ticks) => ticks.map((t) => compact(t)) }],
    series: [
      { label: "Month", value: (u, v, si, idx) => (idx === null || idx === undefined ? "" : bands[idx].date) },
      ...keys.map((k) => ({
        label: names[k], stroke: k === "p50" ? "#0b6e4f" : "#7fb8a4", width: k === "p50" ? 2 : 1,
        value: (u, v, si, idx) => (idx === null || idx === undefined ? "" : formatMoney(bands[idx][k], currency)),
      })),
    ],
    bands: [{ series: [5, 1], fill: "rgba(11,110,79,0.10)" }, { series: [4, 2], fill: "rgba(11,110,79,0.18)" }],
    cursor: { drag: { x: false, y: false } },
  }, data, container);
}

function monthYear(iso) {
  if (!iso) return "not within 50 years";
  const [y, m] = iso.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, 1)).toLocaleDateString("en-GB", { month: "long", year: "numeric", timeZone: "UTC" });
}

async function projectionPage() {
  const data = await api("/api/wealth/projection/");
  const base = data.base_currency;
  const chartBox = el("div", { class: "chart", id: "projection-chart" });
  const goals = data.goals.map((g) => el("li", { "data-goal": g.goal_id }, g.summary,
    el("div", { class: "muted", text: `target ${formatMoney(g.target, base)}; median path reaches it ${g.median_date ? `in ${monthYear(g.median_date)}` : "not within 50 years"}` })));
  const stop = data.stop_working;
  const inputs = data.inputs;
  main.replaceChildren(el("h1", { text: "Projection" }),
    el("p", { class: "muted", text: data.disclaimer }),
    el("section", { class: "panel", "aria-label": "Net worth in today's money, next 30 years" },
      el("h2", { text: "The next 30 years, in today's money" }), chartBox,
      el("p", { class: "muted", text: "Bands: half of the paths end inside the dark band, 90 % inside the light one." })),
    el("section", { class: "panel" }, el("h2", { text: "Goals" }),
      goals.length ? el("ul", { class: "attention" }, goals)
        : el("p", { class: "muted" }, "No goals yet: ", el("code", { text: 'wealth goals add --name "House" --target 250000 --by 2030-06-30' }))),
    stop ? el("section", { class: "panel", "data-stop-working": "" }, el("h2", { text: "When could you stop working?" }),
      el("p", {}, `Spending ${formatMoney(stop.yearly_spending, base)} a year (today's money), from ${stop.spending_source}.`),
      el("ul", {},
        el("li", {}, `${stop.monte_carlo.label}: `, el("strong", { text: stop.monte_carlo.earliest_date ? monthYear(stop.monte_carlo.earliest_date) : "not before the horizon" })),
        el("li", {}, `${stop.rule_of_25.label} (${formatMoney(stop.rule_of_25.target, base)}): `, el("strong", { text: monthYear(stop.rule_of_25.median_date) }))))
      : null,
    el("section", { class: "panel" }, el("h2", { text: "Assumptions" }), el("ul", {},
      el("li", { text: `Returns: ${inputs.method} — ${inputs.method_reason}` }),
      el("li", { text: `Monthly saving ${formatMoney(inputs.monthly_saving, base)} (${inputs.saving_source})` }),
      el("li", { text: `Inflation ${formatRatio(inputs.inflation).replace(/^\+/, "")} a year; ${inputs.paths.toLocaleString("en")} paths, seed ${inputs.seed}` }),
      el("li", { text: `Starting from ${formatMoney(inputs.start_wealth, base)} on ${formatDay(inputs.as_of)}` }))));
  fanChart(chartBox, data.bands.filter((b) => b.month <= 360), base);
}

// --- sign-in, routing -------------------------------------------------------------------

function signedOutPage(message) {
  document.getElementById("nav").hidden = true;
  document.getElementById("signout").hidden = true;
  document.getElementById("who").textContent = "";
  main.replaceChildren(el("h1", { text: "Sign in" }),
    message ? el("p", { class: "note", role: "alert", text: message }) : null,
    el("p", {}, "The dashboard signs in with a one-time link, so your password never goes to a web page. On the machine that runs wealth-pipeline, run:"),
    el("p", {}, el("code", { text: "wealth dashboard link --user YOUR_NAME" })),
    el("p", { class: "muted", text: "and open the link it prints (it works once, for 10 minutes)." }));
}

const routes = [
  [/^#\/accounts\/(\d+)$/, (m) => accountPage(m[1]), "accounts"],
  [/^#\/accounts$/, () => accountsPage(), "accounts"],
  [/^#\/allocation$/, () => allocationPage(), "allocation"],
  [/^#\/holdings$/, () => holdingsPage(), "holdings"],
  [/^#\/returns(?:\/(week|month|ytd|1y|3y|5y|max))?$/, (m) => returnsPage(m[1] || "ytd"), "returns"],
  [/^#\/projection$/, () => projectionPage(), "projection"],
  [/^(#\/overview)?$/, () => overview(), "overview"],
];

async function render() {
  if (!state.access) return signedOutPage();
  const hash = location.hash === "#" ? "" : location.hash;
  const [pattern, view, page] = routes.find(([p]) => p.test(hash)) || routes[routes.length - 1];
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.page === page) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  try {
    main.setAttribute("aria-busy", "true");
    await view(hash.match(pattern) || []);
    document.title = `Wealth · ${page[0].toUpperCase()}${page.slice(1)}`;
  } catch (error) {
    if (error instanceof SignedOut) return signedOutPage("Your session has ended: sign in again.");
    main.replaceChildren(el("h1", { text: "Something went wrong" }), el("p", { class: "note", text: error.message }));
  } finally {
    main.removeAttribute("aria-busy");
    main.dataset.ready = "true";
  }
}

async function start() {
  let signInError = null;
  if (location.pathname === "/signin") {
    const code = new URLSearchParams(location.hash.slice(1)).get("code");
    // The code leaves the address bar and the history before anything else happens.
    history.replaceState(null, "", "/#/overview");
    if (!code || !(await session("/api/session/", { code }))) {
      signInError = "This sign-in link is unknown, used or expired: ask for a new one.";
    }
  } else {
    await session("/api/session/refresh/");
  }
  if (state.access) {
    state.profile = api("/api/profile/");  // awaited by the pages that need it
    document.getElementById("nav").hidden = false;
    document.getElementById("signout").hidden = false;
    document.getElementById("who").textContent = state.user.username;
  }
  if (signInError) return signedOutPage(signInError);
  window.addEventListener("hashchange", render);
  await render();
}

document.getElementById("signout").addEventListener("click", async () => {
  await fetch("/api/session/logout/", { method: "POST", credentials: "same-origin" });
  state.access = null;
  state.user = null;
  history.replaceState(null, "", "/");
  signedOutPage("Signed out.");
});

start();
