// Trailhead Coffee Co.: the store's cart, and the EDM events it sends.
//
// On load the page sends a page-load event, and every click on a button sends
// a click event with the button's id, to edm-relay (whose URL the server puts
// in <body data-relay-url>). The visitor id lives in sessionStorage, so it
// survives page loads in this tab. A failed delivery is retried a few times
// with the same Idempotency-Key, so the relay never counts it twice, and is
// then dropped quietly: the shop never waits for, or breaks because of, the
// relay.
(function () {
  'use strict';

  const RELAY_URL = document.body.dataset.relayUrl || '';
  const PAGE_DESCRIPTION = document.body.dataset.pageDescription || 'store page';
  /** Pauses before each retry; after the last one the event is dropped. */
  const RETRY_DELAYS_MS = [300, 1000, 2500];
  /** A Retry-After longer than this means "not soon": drop the event. */
  const MAX_RETRY_AFTER_MS = 5000;
  const VISITOR_KEY = 'edm-visitor-id';
  const CART_KEY = 'edm-cart';

  // ---- visitor id -------------------------------------------------------

  /** sessionStorage, or null where the browser refuses it. */
  function sessionStore() {
    try {
      return window.sessionStorage;
    } catch (_) {
      return null;
    }
  }

  function newUuid() {
    if (window.crypto && typeof window.crypto.randomUUID === 'function') {
      return window.crypto.randomUUID();
    }
    // crypto.randomUUID needs a secure context; build a v4 UUID by hand.
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join('-');
  }

  let visitorIdInMemory = null;

  /** This tab's visitor id, created on first use. */
  function visitorId() {
    const store = sessionStore();
    let id = null;
    try {
      id = store && store.getItem(VISITOR_KEY);
    } catch (_) {
      id = null;
    }
    if (!id) {
      id = visitorIdInMemory || newUuid();
      try {
        if (store) store.setItem(VISITOR_KEY, id);
      } catch (_) {
        // Storage full or disabled: keep the id for this page only.
      }
    }
    visitorIdInMemory = id;
    return id;
  }

  // ---- events -----------------------------------------------------------

  function pageLoadEvent() {
    return {
      topic: 'edm-ui-pageload',
      uuid: visitorId(),
      event_timestamp: Date.now(),
      properties: {
        user_agent: navigator.userAgent,
        description: PAGE_DESCRIPTION,
        url: window.location.origin,
      },
    };
  }

  function clickEvent(buttonId) {
    return {
      topic: 'edm-ui-click',
      uuid: visitorId(),
      event_timestamp: Date.now(),
      properties: { button_id: buttonId, description: 'button click' },
    };
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  /** Milliseconds a response's Retry-After asks for, or null. */
  function retryAfterMs(response) {
    const value = response.headers.get('Retry-After');
    if (!value) return null;
    const seconds = Number(value);
    if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
    const date = Date.parse(value);
    return Number.isNaN(date) ? null : Math.max(0, date - Date.now());
  }

  /**
   * Sends one event to the relay. Retries network failures and 5xx answers
   * (honouring Retry-After) with the same Idempotency-Key; a 4xx answer means
   * the relay refused the event, so it is not retried. Resolves to whether
   * the relay accepted it; never rejects.
   */
  async function deliver(path, event) {
    if (!RELAY_URL) return false;
    const body = JSON.stringify(event);
    const idempotencyKey = newUuid();
    let pause = 0;
    for (let attempt = 0; attempt <= RETRY_DELAYS_MS.length; attempt += 1) {
      if (attempt > 0) await sleep(pause);
      pause = RETRY_DELAYS_MS[attempt];
      try {
        const response = await fetch(RELAY_URL + path, {
          method: 'POST',
          mode: 'cors',
          credentials: 'omit',
          // The event's id doubles as the request id, so the relay's log
          // line for every attempt names the event it carried.
          headers: {
            'Content-Type': 'application/json',
            'Idempotency-Key': idempotencyKey,
            'X-Request-Id': idempotencyKey,
          },
          body,
        });
        if (response.ok) return true;
        if (response.status < 500) return false;
        const asked = retryAfterMs(response);
        if (asked !== null) {
          if (asked > MAX_RETRY_AFTER_MS) return false;
          pause = Math.max(pause || 0, asked);
        }
      } catch (_) {
        // The relay is unreachable (down, or blocked): try again shortly.
      }
    }
    console.debug('EDM: the relay did not take a %s event; dropped it', event.topic);
    return false;
  }

  // ---- cart ---------------------------------------------------------------

  function readCart() {
    try {
      const raw = sessionStore() && sessionStore().getItem(CART_KEY);
      const items = raw ? JSON.parse(raw) : [];
      return Array.isArray(items) ? items : [];
    } catch (_) {
      return [];
    }
  }

  let cartInMemory = readCart();

  function saveCart() {
    try {
      if (sessionStore()) sessionStore().setItem(CART_KEY, JSON.stringify(cartInMemory));
    } catch (_) {
      // The cart still works for this page.
    }
  }

  function formatPrice(cents) {
    return '$' + (cents / 100).toFixed(2);
  }

  function renderCart() {
    const count = cartInMemory.reduce((sum, item) => sum + item.quantity, 0);
    const total = cartInMemory.reduce((sum, item) => sum + item.quantity * item.priceCents, 0);
    document.getElementById('cart-count').textContent = String(count);
    document.getElementById('cart-total').textContent = formatPrice(total);
    document.getElementById('cart-empty').hidden = count > 0;
    const list = document.getElementById('cart-items');
    list.replaceChildren(
      ...cartInMemory.map((item) => {
        const row = document.createElement('li');
        const name = document.createElement('span');
        name.textContent = item.quantity > 1 ? `${item.name} × ${item.quantity}` : item.name;
        const price = document.createElement('span');
        price.textContent = formatPrice(item.quantity * item.priceCents);
        row.append(name, price);
        return row;
      }),
    );
  }

  function addToCart(button) {
    const name = button.dataset.name || button.id;
    const priceCents = Number(button.dataset.priceCents) || 0;
    const existing = cartInMemory.find((item) => item.name === name);
    if (existing) existing.quantity += 1;
    else cartInMemory.push({ name, priceCents, quantity: 1 });
    saveCart();
    renderCart();
    button.textContent = 'Added ✓';
    button.classList.add('added');
    clearTimeout(Number(button.dataset.resetTimer));
    button.dataset.resetTimer = String(
      setTimeout(() => {
        button.textContent = 'Add to cart';
        button.classList.remove('added');
      }, 1200),
    );
  }

  function setCartOpen(open) {
    document.getElementById('cart-panel').hidden = !open;
    document.getElementById('view-cart').setAttribute('aria-expanded', String(open));
  }

  // ---- wiring -----------------------------------------------------------

  document.addEventListener('click', (domEvent) => {
    const button = domEvent.target.closest('button[id]');
    if (!button) {
      if (!domEvent.target.closest('#cart-panel')) setCartOpen(false);
      return;
    }
    deliver('/produceClickMessage', clickEvent(button.id));

    if (button.classList.contains('add-to-cart')) {
      addToCart(button);
    } else if (button.dataset.scrollTo) {
      const target = document.getElementById(button.dataset.scrollTo);
      if (target) target.scrollIntoView({ behavior: 'smooth' });
    } else if (button.id === 'view-cart') {
      setCartOpen(document.getElementById('cart-panel').hidden);
    } else if (button.id === 'checkout') {
      document.getElementById('checkout-note').hidden = false;
    } else if (button.id === 'join-newsletter') {
      document.getElementById('newsletter-note').hidden = false;
    }
  });

  document.addEventListener('keydown', (domEvent) => {
    if (domEvent.key === 'Escape') setCartOpen(false);
  });

  renderCart();
  deliver('/producePageLoad', pageLoadEvent());
})();
