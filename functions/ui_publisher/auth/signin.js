// Sign-in for Stratus's web UI (docs/ui.md, "On AWS"): the OpenID Connect authorization-code flow with PKCE
// (RFC 7636), run in the browser with a public client (no secret to keep). /auth/login starts it, /auth/callback
// finishes it: the code is exchanged for tokens and the ID token (always a JWT, its aud the client id, so the HTTP
// API's JWT authorizer accepts it) is kept in a cookie. CloudFront copies that cookie into the Authorization header
// of the UI's API calls (template.yaml, UiApiTokenFunction). /auth/config.json is written at deploy time.
(function (root) {
  'use strict';

  var COOKIE = '__Host-stratus-token';
  var PENDING_KEY = 'stratus-sign-in';

  function base64url(bytes) {
    var text = '';
    for (var i = 0; i < bytes.length; i++) {
      text += String.fromCharCode(bytes[i]);
    }
    return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function randomString() {
    return base64url(crypto.getRandomValues(new Uint8Array(32)));
  }

  function codeChallenge(verifier) {
    return crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)).then(function (digest) {
      return base64url(new Uint8Array(digest));
    });
  }

  function jwtClaims(token) {
    var payload = (token.split('.')[1] || '').replace(/-/g, '+').replace(/_/g, '/');
    while (payload.length % 4) {
      payload += '=';
    }
    var bytes = Uint8Array.from(atob(payload), function (c) { return c.charCodeAt(0); });
    return JSON.parse(new TextDecoder().decode(bytes));
  }

  function callbackUrl() {
    return location.origin + '/auth/callback';
  }

  function loadConfig() {
    return fetch('/auth/config.json', { cache: 'no-store' }).then(function (response) {
      if (!response.ok) {
        throw new Error('Sign-in is not configured (/auth/config.json answered ' + response.status + ').');
      }
      return response.json();
    });
  }

  // Where to go once signed in: the page the browser was sent away from (its #/route survives the redirect).
  function safeNext(next) {
    return typeof next === 'string' && next.charAt(0) === '/' && next.charAt(1) !== '/' ? next : '/';
  }

  function login() {
    var pending = { verifier: randomString(), state: randomString(), nonce: randomString(), next: '/' + location.hash };
    return Promise.all([loadConfig(), codeChallenge(pending.verifier)]).then(function (results) {
      var config = results[0];
      sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
      var query = new URLSearchParams({
        response_type: 'code',
        client_id: config.clientId,
        redirect_uri: callbackUrl(),
        scope: config.scope,
        state: pending.state,
        nonce: pending.nonce,
        code_challenge: results[1],
        code_challenge_method: 'S256'
      });
      var endpoint = config.authorizationEndpoint;
      location.assign(endpoint + (endpoint.indexOf('?') < 0 ? '?' : '&') + query.toString());
    });
  }

  function exchange(config, code, pending) {
    var form = new URLSearchParams({
      grant_type: 'authorization_code',
      code: code,
      redirect_uri: callbackUrl(),
      client_id: config.clientId,
      code_verifier: pending.verifier
    });
    return fetch(config.tokenEndpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: form.toString()
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (tokens) {
        if (!response.ok || !tokens.id_token) {
          throw new Error('The identity provider refused the sign-in code (' + (tokens.error || response.status) + ').');
        }
        return tokens.id_token;
      });
    });
  }

  function callback() {
    var query = new URLSearchParams(location.search);
    var pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) || 'null');
    sessionStorage.removeItem(PENDING_KEY);
    if (query.get('error')) {
      return Promise.reject(new Error('Sign-in failed: ' + query.get('error') + ' ' + (query.get('error_description') || '')));
    }
    if (!pending || !query.get('code') || query.get('state') !== pending.state) {
      return Promise.reject(new Error('This sign-in was not started in this browser tab (state mismatch).'));
    }
    return loadConfig().then(function (config) {
      return exchange(config, query.get('code'), pending);
    }).then(function (idToken) {
      var claims = jwtClaims(idToken);
      if (claims.nonce !== pending.nonce) {
        throw new Error('The ID token does not belong to this sign-in (nonce mismatch).');
      }
      var maxAge = Math.floor(claims.exp - Date.now() / 1000);
      if (!(maxAge > 0)) {
        throw new Error('The ID token has already expired (is this computer\'s clock right?).');
      }
      document.cookie = COOKIE + '=' + idToken + '; Path=/; Max-Age=' + maxAge + '; Secure; SameSite=Lax';
      location.replace(safeNext(pending.next));
    });
  }

  function run(step) {
    step().catch(function (error) {
      var status = document.getElementById('status');
      if (status) {
        status.textContent = error.message;
      }
      var retry = document.getElementById('retry');
      if (retry) {
        retry.hidden = false;
      }
    });
  }

  root.StratusSignIn = {
    login: login,
    callback: callback,
    run: run,
    codeChallenge: codeChallenge,
    jwtClaims: jwtClaims,
    safeNext: safeNext
  };
})(typeof globalThis !== 'undefined' ? globalThis : window);
