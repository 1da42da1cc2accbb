// The admin page: plain JavaScript over the admin JSON API (/api/...), no build step, no libraries.
// Everything shown is built with textContent, never innerHTML, so names and messages cannot inject markup.
// The page never receives a secret: the API answers without them, and the secret field is cleared once sent.
'use strict';

(function () {
  const tokenKey = 'recording-gateway.admin-token';
  let adminToken = sessionStorage.getItem(tokenKey) || '';
  let accounts = [];
  // Each account's output panel (connection check, policies, new URL) survives the list's refreshes.
  const panels = new Map();

  const byId = (id) => document.getElementById(id);

  /** A new element: attributes (class, text, on<event>, or plain attributes) and children. */
  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === 'class') node.className = value;
      else if (name === 'text') node.textContent = value;
      else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? '' : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  /** Calls the admin API; a non-2xx answer throws its message. */
  async function api(method, path, body) {
    const headers = { Authorization: 'Bearer ' + adminToken };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response;
    try {
      response = await fetch('/api/' + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
      });
    } catch (error) {
      throw new ApiError(0, 'The gateway did not answer (' + error.message + ').');
    }
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (response.status === 401) {
      const closed = data && data.error && data.error.code === 'admin_api_closed';
      signOut(closed ? data.error.message : 'The admin token was refused: check it and sign in again.');
      throw new ApiError(401, 'not signed in');
    }
    if (!response.ok) {
      throw new ApiError(response.status, (data && data.error && data.error.message) || 'HTTP ' + response.status);
    }
    return data;
  }

  // MARK: formatting

  function bytes(count) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let value = count;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return (unit === 0 ? String(value) : value.toFixed(1)) + ' ' + units[unit];
  }

  function ago(iso) {
    if (!iso) return 'never';
    const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (seconds < 60) return seconds + ' s ago';
    if (seconds < 3600) return Math.round(seconds / 60) + ' min ago';
    if (seconds < 86400) return Math.round(seconds / 3600) + ' h ago';
    return Math.round(seconds / 86400) + ' days ago';
  }

  function duration(seconds) {
    const days = Math.floor(seconds / 86400);
    const hours = Math.floor((seconds % 86400) / 3600);
    const minutes = Math.floor((seconds % 3600) / 60);
    if (days > 0) return days + ' d ' + hours + ' h';
    if (hours > 0) return hours + ' h ' + minutes + ' min';
    return minutes + ' min';
  }

  function json(value) {
    return JSON.stringify(value, null, 2);
  }

  /** A block of text with a Copy button. */
  function copyable(title, text) {
    const pre = el('pre', { class: 'copyable', text });
    const button = el('button', { type: 'button', text: 'Copy' });
    button.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(text);
        button.textContent = 'Copied';
      } catch (_) {
        // No clipboard (plain http on another host): select the text for Ctrl+C.
        const range = document.createRange();
        range.selectNodeContents(pre);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        button.textContent = 'Selected: press Ctrl+C';
      }
    });
    return el('div', { class: 'copy-block' }, el('div', { class: 'copy-row' }, el('h4', { text: title }), button), pre);
  }

  /** The storage URL and storage document of a newly issued token (shown this once). */
  function issuedBlock(issued, heading) {
    return el(
      'div',
      { class: 'panel issued', 'data-account-id': issued.account_id },
      el('p', { class: 'summary-line', text: heading }),
      el(
        'p',
        { class: 'hint' },
        'Paste the storage document into KAZOO: the body of PUT /v2/accounts/' + issued.account_id + '/storage. ',
        'The storage URL lets anyone store recordings for this account: it is shown only now; keep it secret.'
      ),
      copyable('Storage URL', issued.storage_url),
      copyable('KAZOO storage document', json(issued.storage_document))
    );
  }

  // MARK: status

  async function loadStatus() {
    const status = await api('GET', 'status');
    const queue = status.queue || {};
    const waiting = (queue.pending || 0) + (queue.uploading || 0);
    byId('status').textContent = [
      'version ' + status.version,
      'up ' + duration(status.uptime_seconds),
      status.accounts + (status.accounts === 1 ? ' account' : ' accounts'),
      'queue: ' + waiting + ' waiting, ' + (queue.failed || 0) + ' failed',
      'replays: ' + (status.replays ? status.replays.summary : '–'),
      'memory ' + bytes(status.memory_budget.in_use_bytes) + ' of ' + bytes(status.memory_budget.capacity_bytes),
    ].join(' · ');
  }

  // MARK: accounts

  function queueText(queue) {
    const parts = [];
    for (const state of ['pending', 'uploading', 'failed']) {
      if (queue && queue[state]) parts.push(queue[state] + ' ' + state);
    }
    return parts.length ? parts.join(', ') : 'empty';
  }

  function accountCard(account) {
    let panel = panels.get(account.account_id);
    if (!panel) {
      panel = el('div', { class: 'panel', 'aria-live': 'polite' });
      panels.set(account.account_id, panel);
    }
    const badges = [];
    if (!account.enabled) badges.push(el('span', { class: 'badge disabled', text: 'disabled' }));
    if (account.replays_paused) badges.push(el('span', { class: 'badge paused', text: 'replays paused' }));
    const encryption = account.sse ? account.sse + (account.kms_key_id ? ' (' + account.kms_key_id + ')' : '') : 'bucket default';
    const facts = [
      ['KAZOO account', account.account_id],
      ['Bucket', account.bucket],
      ['Host', account.scheme + '://' + account.host + (account.path_style ? ' (path-style)' : '')],
      ['Region', account.region || (account.effective_region ? account.effective_region + ' (from host)' : '?')],
      ['Access key id', account.access_key_id],
      ['Secret', 'sealed, never shown'],
      ['Encryption', encryption],
      ['Last store', account.last_store_at ? ago(account.last_store_at) : 'never'],
      ['Queue', queueText(account.queue)],
    ];
    if (account.replays_paused) facts.push(['Paused because', account.replays_paused]);
    const list = el('dl', {});
    for (const [name, value] of facts) {
      list.append(el('dt', { text: name }), el('dd', { text: value, title: name === 'Last store' ? account.last_store_at || '' : null }));
    }
    const card = el(
      'article',
      { class: 'account', 'data-account-id': account.account_id },
      el('header', {}, el('h3', { text: account.name }), badges),
      list,
      el(
        'div',
        { class: 'row-actions' },
        el('button', { type: 'button', class: 'verify', text: 'Test connection', onclick: (event) => verify(account, panel, event.target) }),
        el('button', { type: 'button', class: 'policies', text: 'Policies', onclick: () => showPolicies(account, panel) }),
        el('button', { type: 'button', class: 'edit', text: 'Edit', onclick: () => showEdit(account, panel) }),
        el('button', { type: 'button', class: 'rotate', text: 'New storage URL', onclick: () => confirmThen(panel,
          'Issue a new storage URL? The current one stops working at once; paste the new storage document into KAZOO.',
          'Issue new URL', () => rotate(account, panel)) }),
        account.replays_paused
          ? el('button', { type: 'button', text: 'Resume replays', onclick: () => retry({ account_id: account.account_id }) })
          : null,
        el('button', { type: 'button', class: 'danger', text: 'Remove', onclick: () => confirmThen(panel,
          'Remove ' + account.name + '? Its storage URL stops working. Recordings already in the bucket are not touched.',
          'Remove account', () => remove(account, panel)) })
      ),
      panel
    );
    return card;
  }

  function confirmThen(panel, question, action, run) {
    panel.replaceChildren(
      el('p', { text: question }),
      el(
        'div',
        { class: 'row-actions' },
        el('button', { type: 'button', class: 'danger', text: action, onclick: run }),
        el('button', { type: 'button', text: 'Cancel', onclick: () => panel.replaceChildren() })
      )
    );
  }

  async function loadAccounts() {
    const answer = await api('GET', 'accounts');
    accounts = answer.accounts;
    const container = byId('accounts');
    container.replaceChildren(...accounts.map(accountCard));
    byId('accounts-empty').hidden = accounts.length > 0;
  }

  async function verify(account, panel, button) {
    button.disabled = true;
    panel.replaceChildren(el('p', { text: 'Testing ' + account.bucket + ' with the stored credentials…' }));
    try {
      const answer = await api('POST', 'accounts/' + encodeURIComponent(account.account_id) + '/verify');
      const lines = el('ol', { class: 'checks' });
      for (const line of answer.lines) {
        lines.append(
          el(
            'li',
            { class: 'check ' + line.status },
            el('span', {}, el('span', { class: 'badge ' + line.status, text: line.status })),
            el('span', {}, el('span', { class: 'what', text: line.check + ': ' }), el('span', { class: 'message', text: line.message }))
          )
        );
      }
      panel.replaceChildren(
        el('p', {
          class: 'summary-line',
          text: answer.passed ? 'Connection works: nothing failed.' : 'Connection check failed: fix the first FAIL line.',
        }),
        lines
      );
    } catch (error) {
      if (error.status !== 401) panel.replaceChildren(el('p', { class: 'error', text: error.message }));
    } finally {
      button.disabled = false;
    }
  }

  function showPolicies(account, panel) {
    const arn = el('input', { name: 'user_arn', placeholder: 'arn:aws:iam::123456789012:user/' + account.bucket, autocomplete: 'off', spellcheck: 'false' });
    const tls = el('input', { type: 'checkbox', name: 'require_tls', checked: true });
    const documents = el('div', {});
    const error = el('p', { class: 'error', role: 'alert' });
    const load = async () => {
      error.textContent = '';
      const query = new URLSearchParams({ bucket: account.bucket, require_tls: tls.checked ? 'true' : 'false' });
      if (arn.value.trim()) query.set('user_arn', arn.value.trim());
      try {
        const answer = await api('GET', 'policies?' + query.toString());
        const blocks = [copyable('IAM user policy (attach to the IAM user)', json(answer.user_policy))];
        if (answer.bucket_policy) blocks.push(copyable('Bucket policy (bucket → Permissions → Bucket policy)', json(answer.bucket_policy)));
        blocks.push(copyable('Lifecycle configuration (aborts incomplete uploads after 7 days)', json(answer.lifecycle_configuration)));
        documents.replaceChildren(...blocks);
      } catch (failure) {
        if (failure.status !== 401) error.textContent = failure.message;
      }
    };
    arn.addEventListener('change', load);
    tls.addEventListener('change', load);
    panel.replaceChildren(
      el('div', { class: 'fields' },
        el('label', {}, "IAM user's ARN ", el('span', { class: 'optional', text: '(for the bucket policy)' }), arn),
        el('label', { class: 'check' }, tls, 'Deny requests without TLS')),
      error,
      documents
    );
    load();
  }

  /** Changes an account: only the fields that differ are sent; an empty secret keeps the stored one. */
  function showEdit(account, panel) {
    const field = (label, name, value, attributes) =>
      el('label', {}, label, el('input', Object.assign({ name, value: value || '', autocomplete: 'off', spellcheck: 'false' }, attributes || {})));
    const sse = el(
      'select',
      { name: 'sse' },
      [['', 'Bucket default'], ['AES256', 'SSE-S3 (AES256)'], ['aws:kms', 'SSE-KMS (aws:kms)']].map(([value, label]) =>
        el('option', { value, text: label, selected: (account.sse || '') === value })
      )
    );
    const error = el('p', { class: 'error', role: 'alert' });
    const form = el(
      'form',
      { class: 'edit-form', novalidate: true },
      el(
        'div',
        { class: 'fields' },
        field('Name', 'name', account.name),
        field('Access key id', 'access_key_id', account.access_key_id),
        field('Secret access key', 'secret_access_key', '', { type: 'password', placeholder: 'unchanged unless you type a new one' }),
        field('Bucket name', 'bucket', account.bucket),
        field('S3 host', 'host', account.host),
        field('Region', 'region', account.region, { placeholder: account.effective_region || '' }),
        el('label', {}, 'Encryption', sse),
        field('KMS key id', 'kms_key_id', account.kms_key_id),
        el('label', { class: 'check' }, el('input', { type: 'checkbox', name: 'enabled', checked: account.enabled }), 'Enabled')
      ),
      el(
        'div',
        { class: 'row-actions' },
        el('button', { type: 'submit', class: 'primary', text: 'Save' }),
        el('button', { type: 'button', text: 'Cancel', onclick: () => panel.replaceChildren() })
      ),
      error
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const body = {};
      for (const name of ['name', 'access_key_id', 'bucket', 'host', 'region', 'kms_key_id']) {
        const value = form.elements[name].value.trim();
        if (value !== (account[name] || '')) body[name] = value;
      }
      const secret = form.elements.secret_access_key.value.trim();
      if (secret) body.secret_access_key = secret;
      if (form.elements.sse.value !== (account.sse || '')) body.sse = form.elements.sse.value || 'none';
      if (form.elements.enabled.checked !== account.enabled) body.enabled = form.elements.enabled.checked;
      if (Object.keys(body).length === 0) {
        error.textContent = 'Nothing changed.';
        return;
      }
      try {
        await api('PATCH', 'accounts/' + encodeURIComponent(account.account_id), body);
        form.elements.secret_access_key.value = '';
        panel.replaceChildren(
          el('p', { class: 'summary-line', text: 'Saved. Replays paused for this account resume; press "Test connection" to check.' })
        );
        await refresh();
      } catch (failure) {
        if (failure.status !== 401) error.textContent = failure.message;
      }
    });
    panel.replaceChildren(form);
  }

  async function rotate(account, panel) {
    try {
      const issued = await api('POST', 'accounts/' + encodeURIComponent(account.account_id) + '/token');
      panel.replaceChildren(issuedBlock(issued, 'New storage URL for ' + account.name + ' (the old one no longer works).'));
    } catch (error) {
      if (error.status !== 401) panel.replaceChildren(el('p', { class: 'error', text: error.message }));
    }
  }

  async function remove(account, panel) {
    try {
      await api('DELETE', 'accounts/' + encodeURIComponent(account.account_id));
      await refresh();
    } catch (error) {
      if (error.status !== 401) panel.replaceChildren(el('p', { class: 'error', text: error.message }));
    }
  }

  // MARK: add

  async function addAccount(event) {
    event.preventDefault();
    const form = event.target;
    const error = byId('add-error');
    error.textContent = '';
    const body = {};
    for (const name of ['name', 'account_id', 'access_key_id', 'secret_access_key', 'bucket', 'host', 'region', 'kms_key_id', 'key_prefix']) {
      const value = form.elements[name].value.trim();
      if (value) body[name] = value;
    }
    for (const name of ['name', 'account_id', 'access_key_id', 'secret_access_key', 'bucket', 'host']) {
      if (!body[name]) {
        error.textContent = form.elements[name].closest('label').firstChild.textContent.trim() + ' is required.';
        form.elements[name].focus();
        return;
      }
    }
    body.sse = form.elements.sse.value || 'none';
    if (body.sse !== 'aws:kms') delete body.kms_key_id;
    body.scheme = form.elements.scheme.value;
    body.path_style = form.elements.path_style.checked;
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      const issued = await api('POST', 'accounts', body);
      form.reset(); // the secret leaves the page with the request
      byId('kms-field').hidden = true;
      byId('issued').replaceChildren(
        issuedBlock(issued, 'Added ' + issued.account.name + '. Next: press its "Test connection", then paste the storage document into KAZOO.')
      );
      await refresh();
    } catch (failure) {
      if (failure.status !== 401) error.textContent = failure.message;
    } finally {
      button.disabled = false;
    }
  }

  // MARK: queue

  async function loadQueue() {
    const rows = [];
    let paused = {};
    for (const state of ['failed', 'pending', 'uploading']) {
      const answer = await api('GET', 'queue?state=' + state + '&limit=200');
      rows.push(...answer.uploads);
      paused = answer.paused_accounts || {};
    }
    const names = new Map(accounts.map((account) => [account.account_id, account.name]));
    const container = byId('queue');
    if (rows.length === 0) {
      container.replaceChildren(el('p', { class: 'hint', text: 'Nothing waiting: every acknowledged recording is in its bucket.' }));
      return;
    }
    const head = el('tr', {}, ['Id', 'Account', 'Key', 'Size', 'State', 'Attempts', 'Next attempt', 'Last error', ''].map((title) => el('th', { text: title })));
    const body = el('tbody', {});
    for (const row of rows) {
      const accountName = names.get(row.account_id) || row.account_id;
      const state = paused[row.account_id] && row.state === 'pending' ? 'paused' : row.state;
      const cells = [
        ['Id', String(row.id)],
        ['Account', accountName],
        ['Key', row.key],
        ['Size', bytes(row.size)],
        ['State', el('span', { class: 'badge ' + state, text: state })],
        ['Attempts', String(row.attempts)],
        ['Next attempt', row.state === 'pending' ? new Date(row.next_attempt_at).toLocaleString() : '–'],
        ['Last error', row.last_error || '–'],
      ];
      const tr = el('tr', { 'data-queue-id': row.id });
      for (const [label, value] of cells) tr.append(el('td', { 'data-label': label }, value));
      tr.append(
        el(
          'td',
          { 'data-label': '' },
          row.state === 'uploading' ? null : el('button', { type: 'button', class: 'retry', text: 'Retry now', onclick: () => retry({ id: row.id }) })
        )
      );
      body.append(tr);
    }
    container.replaceChildren(el('div', { class: 'table-wrap' }, el('table', { class: 'queue' }, el('thead', {}, head), body)));
  }

  async function retry(selector) {
    const notice = byId('queue-notice');
    try {
      const answer = await api('POST', 'queue/retry', selector);
      notice.textContent = answer.due_now + (answer.due_now === 1 ? ' upload is' : ' uploads are') + ' due now; the replay worker takes them within a second.';
      await refresh();
    } catch (error) {
      if (error.status !== 401) notice.textContent = error.message;
    }
  }

  // MARK: session

  async function refresh() {
    try {
      await loadStatus();
      await loadAccounts();
      await loadQueue();
    } catch (error) {
      if (error.status !== 401) byId('status').textContent = 'Could not load: ' + error.message;
    }
  }

  function showSignedIn(signedIn) {
    byId('sign-in').hidden = signedIn;
    byId('app').hidden = !signedIn;
    byId('session-actions').hidden = !signedIn;
  }

  function signOut(message) {
    adminToken = '';
    sessionStorage.removeItem(tokenKey);
    accounts = [];
    panels.clear();
    byId('accounts').replaceChildren();
    byId('queue').replaceChildren();
    byId('issued').replaceChildren();
    byId('status').textContent = '';
    byId('sign-in-error').textContent = message || '';
    showSignedIn(false);
  }

  async function signIn(event) {
    event.preventDefault();
    const input = byId('admin-token');
    adminToken = input.value.trim();
    input.value = '';
    try {
      await api('GET', 'status');
    } catch (error) {
      if (error.status !== 401) byId('sign-in-error').textContent = error.message;
      return;
    }
    sessionStorage.setItem(tokenKey, adminToken);
    byId('sign-in-error').textContent = '';
    showSignedIn(true);
    await refresh();
  }

  function start() {
    byId('sign-in-form').addEventListener('submit', signIn);
    byId('add-form').addEventListener('submit', addAccount);
    byId('refresh').addEventListener('click', refresh);
    byId('sign-out').addEventListener('click', () => signOut(''));
    byId('retry-all').addEventListener('click', () => retry({ all: true }));
    byId('add-form').elements.sse.addEventListener('change', (event) => {
      byId('kms-field').hidden = event.target.value !== 'aws:kms';
    });
    if (adminToken) {
      showSignedIn(true);
      refresh();
    } else {
      showSignedIn(false);
    }
    setInterval(() => {
      if (adminToken) loadStatus().catch(() => {});
    }, 15000);
  }

  start();
})();
