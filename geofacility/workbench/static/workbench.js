/* geofacility what-if workbench: the page of `geofacility serve` (no build step, no CDN).
 *
 * Every text that comes from the data or the server is put into the page with textContent or as DOM nodes —
 * never innerHTML, and Leaflet tooltips get DOM nodes, never strings — so names like
 * <script>…</script> or `${…}` stay text. The session token comes with the URL (?token=…), is kept in
 * sessionStorage, taken out of the address bar and sent with every /api request (X-Geofacility-Token).
 *
 * window.workbench is the page's own API, which the browser tests drive: ready, setCategory, toggle,
 * clickCandidate, dropRoom, undo, redo, suggest, save, load, exportScenario, panel.
 */
(function () {
  'use strict';

  // the status colours of geofacility/maps/style.py (OK_COLOUR, _RED_ONE, NOT_SURVEYED_COLOUR)
  var STATUS_COLOURS = {gap: '#d7301f', ok: '#1a9850', not_surveyed: '#f0f0f0'};
  var STATUS_LABELS = {gap: '缺口 gap', ok: '达标 ok', not_surveyed: '未调查 not surveyed'};
  var FACILITY_COLOUR = '#1f78b4';
  var CANDIDATE = {selectable: '#6a3d9a', blocked: '#9e9e9e', built: '#ffb300', added: '#00838f'};
  var TOTALS = ['communities_short', 'covered_population', 'uncovered_population', 'served_population',
                'over_capacity_population', 'count_gap', 'gap_m2'];
  // for these a smaller number is better (the change is green when it falls)
  var LOWER_IS_BETTER = {communities_short: 1, uncovered_population: 1, over_capacity_population: 1,
                         count_gap: 1, gap_m2: 1};

  // ---------------------------------------------------------------------------------------- token and API

  var params = new URLSearchParams(window.location.search);
  var token = params.get('token') || window.sessionStorage.getItem('geofacility-token') || '';
  if (params.get('token')) {
    window.sessionStorage.setItem('geofacility-token', token);
    params.delete('token');
    var rest = params.toString();
    window.history.replaceState(null, '', window.location.pathname + (rest ? '?' + rest : '') + window.location.hash);
  }

  function api(method, path, body) {
    var options = {method: method, headers: {'X-Geofacility-Token': token}, credentials: 'same-origin'};
    if (body !== undefined) {
      options.headers['Content-Type'] = 'application/json';
      options.body = JSON.stringify(body);
    }
    return fetch(path, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var error = new Error((data && data.error) || ('HTTP ' + response.status));
          error.status = response.status;
          throw error;
        }
        return data;
      });
    });
  }

  // ---------------------------------------------------------------------------------------- DOM helpers

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') node.textContent = attrs[k];
      else if (k === 'className') node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    });
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function fmt(value, digits) {
    if (value === null || value === undefined || (typeof value === 'number' && !isFinite(value))) return '—';
    if (typeof value !== 'number') return String(value);
    return value.toLocaleString('en-US', {maximumFractionDigits: digits === undefined ? 0 : digits});
  }

  function parseShown(text) {
    var t = (text || '').replace(/,/g, '').trim();
    if (t === '' || t === '—') return null;
    var n = Number(t);
    return isNaN(n) ? t : n;
  }

  function say(text, isError) {
    var status = $('wb-status');
    status.textContent = text || '';
    status.className = isError ? 'error' : '';
  }

  function failed(error) {
    say('出错 error: ' + (error && error.message ? error.message : String(error)), true);
    throw error;
  }

  // ---------------------------------------------------------------------------------------- the map

  var map = L.map('wb-map', {preferCanvas: false, zoomControl: true});
  L.tileLayer('https://tile.openstreetmap.org/{z}/{x}/{y}.png', {
    maxZoom: 19, referrerPolicy: 'no-referrer',
    attribution: '© <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
  }).addTo(map);
  map.setView([39.9, 116.37], 12);

  var legend = L.control({position: 'bottomleft'});
  legend.onAdd = function () {
    var box = el('div', {className: 'legend'});
    function item(colour, label, round) {
      var swatch = el('i');
      swatch.style.background = colour;
      if (round) swatch.style.borderRadius = '50%';
      box.appendChild(el('div', {}, [swatch, label]));
    }
    Object.keys(STATUS_COLOURS).forEach(function (k) { item(STATUS_COLOURS[k], '社区 ' + STATUS_LABELS[k]); });
    item(FACILITY_COLOUR, '现有设施及服务范围 existing facility, reach', true);
    item(CANDIDATE.selectable, '候选房源（可选）selectable room', true);
    item(CANDIDATE.blocked, '候选房源（不可选）room that cannot be taken', true);
    item(CANDIDATE.built, '方案中建设 built in the scenario', true);
    item(CANDIDATE.added, '新放置房源 room dropped on the map', true);
    return box;
  };
  legend.addTo(map);

  var groups = {
    communities: L.layerGroup().addTo(map),
    facilities: L.layerGroup().addTo(map),
    reach: L.layerGroup().addTo(map),
    candidates: L.layerGroup().addTo(map)
  };

  var current = {
    category: null, categories: [], radius: null, state: null,
    communityLayers: {}, communityProps: {}, candidateLayers: {}, candidateProps: {}, reachLayers: {},
    ledgerRows: [], lastAction: Promise.resolve(null), dropping: false, busy: false
  };

  function communityStyle(props) {
    return {color: '#555', weight: 0.6, fillColor: STATUS_COLOURS[props.status] || '#bdbdbd',
            fillOpacity: props.status === 'not_surveyed' ? 0.35 : 0.62};
  }

  function communityTooltip(props) {
    var lines = [
      el('strong', {text: props.community || props.community_id}),
      el('div', {text: (props.town || '') + ' · ' + (STATUS_LABELS[props.status] || props.status || '')}),
      el('div', {text: '人口 population ' + fmt(props.population) + ' · 覆盖 covered ' +
        (props.covered_share === null || props.covered_share === undefined ? '—' :
          fmt(100 * props.covered_share, 1) + '%')}),
      el('div', {text: '数量缺口 count gap ' + fmt(props.count_gap) + ' · 面积缺口 gap ' + fmt(props.gap_m2) + ' m²'})
    ];
    if (props.problem) lines.push(el('div', {text: String(props.problem)}));
    return el('div', {}, lines);
  }

  function candidateStyle(props, built) {
    var colour = built ? CANDIDATE.built : props.added ? CANDIDATE.added :
      props.selectable ? CANDIDATE.selectable : CANDIDATE.blocked;
    return {radius: built ? 9 : 6, color: built ? '#5d4037' : '#fff', weight: built ? 3 : 1.5,
            fillColor: colour, fillOpacity: props.selectable || built ? 0.95 : 0.6};
  }

  function candidateTooltip(props) {
    return el('div', {}, [
      el('strong', {text: String(props.name || props.candidate_id)}),
      el('div', {text: '编号 id ' + props.candidate_id + ' · ' + fmt(props.floor_area_m2) + ' m²'}),
      el('div', {text: '新增覆盖 newly covered ' + fmt(props.newly_covered_population) + ' 人'}),
      el('div', {text: String(props.selectable_reason || '')}),
      el('div', {text: '点击：建设 / 取消 click: build / unbuild'})
    ]);
  }

  function drawLayers(layers) {
    Object.keys(groups).forEach(function (k) { groups[k].clearLayers(); });
    current.communityLayers = {}; current.communityProps = {};
    L.geoJSON(layers.communities, {
      style: function (f) { return communityStyle(f.properties); },
      onEachFeature: function (f, layer) {
        var id = String(f.properties.community_id);
        current.communityLayers[id] = layer;
        current.communityProps[id] = f.properties;
        layer.bindTooltip(function () { return communityTooltip(current.communityProps[id]); }, {sticky: true});
      }
    }).addTo(groups.communities);
    (layers.facilities.features || []).forEach(function (f) {
      var c = f.geometry.coordinates, p = f.properties;
      var marker = L.circleMarker([c[1], c[0]], {radius: 4, color: '#fff', weight: 1, fillColor: FACILITY_COLOUR,
                                                 fillOpacity: 1});
      marker.bindTooltip(el('div', {}, [el('strong', {text: String(p.name || p.facility_id)}),
        el('div', {text: '现有设施 existing · ' + fmt(p.floor_area_m2) + ' m²'})]));
      marker.addTo(groups.facilities);
      if (!layers.catchments && p.radius_m) {
        L.circle([c[1], c[0]], {radius: p.radius_m, color: FACILITY_COLOUR, weight: 1, fill: false,
                                dashArray: '4 3', interactive: false}).addTo(groups.facilities);
      }
    });
    if (layers.catchments) {
      L.geoJSON(layers.catchments, {style: {color: FACILITY_COLOUR, weight: 1, fillOpacity: 0.08},
                                    interactive: false}).addTo(groups.facilities);
    }
    drawCandidates(layers.candidates);
    var b = layers.bounds;
    if (b && b.length === 4 && isFinite(b[0])) map.fitBounds([[b[1], b[0]], [b[3], b[2]]], {padding: [10, 10]});
  }

  function drawCandidates(collection) {
    groups.candidates.clearLayers();
    current.candidateLayers = {}; current.candidateProps = {};
    (collection.features || []).forEach(function (f) {
      var c = f.geometry.coordinates, p = f.properties, id = String(p.candidate_id);
      var marker = L.circleMarker([c[1], c[0]], candidateStyle(p, p.built));
      marker.bindTooltip(function () { return candidateTooltip(current.candidateProps[id]); });
      marker.on('click', function (e) {
        if (e && e.originalEvent && L.DomEvent) L.DomEvent.stopPropagation(e);
        current.lastAction = toggle(id).catch(function () { return null; });
      });
      marker.addTo(groups.candidates);
      current.candidateLayers[id] = marker;
      current.candidateProps[id] = p;
    });
    restyleCandidates(current.state ? current.state.built : null);
  }

  function restyleCandidates(built) {
    var set = {};
    (built || []).forEach(function (id) { set[String(id)] = true; });
    groups.reach.clearLayers();
    // on foot: the built rooms' walking catchments (from the state); in a straight line: a circle of the radius
    var walked = current.state && current.state.built_catchments;
    if (walked) {
      L.geoJSON(walked, {style: {color: CANDIDATE.built, weight: 2, fillOpacity: 0.08},
                         interactive: false}).addTo(groups.reach);
    }
    Object.keys(current.candidateLayers).forEach(function (id) {
      var props = current.candidateProps[id];
      var isBuilt = built ? !!set[id] : !!props.built;
      props.built = isBuilt;
      var layer = current.candidateLayers[id];
      layer.setStyle(candidateStyle(props, isBuilt));
      if (isBuilt) {
        layer.bringToFront();
        if (current.radius && !walked) {
          L.circle(layer.getLatLng(), {radius: current.radius, color: CANDIDATE.built, weight: 2, fillOpacity: 0.08,
                                       interactive: false}).addTo(groups.reach);
        }
      }
    });
  }

  function recolourCommunities(list) {
    (list || []).forEach(function (props) {
      var id = String(props.community_id), layer = current.communityLayers[id];
      if (!layer) return;
      current.communityProps[id] = props;
      layer.setStyle(communityStyle(props));
    });
  }

  // ---------------------------------------------------------------------------------------- the panel

  function showState(state) {
    current.state = state;
    var rows = $('wb-totals').tBodies[0].rows;
    Array.prototype.forEach.call(rows, function (row) {
      var key = row.getAttribute('data-total');
      var before = state.baseline[key], after = state.scenario[key];
      row.querySelector('[data-side=baseline]').textContent = fmt(before);
      row.querySelector('[data-side=scenario]').textContent = fmt(after);
      var cell = row.querySelector('[data-side=change]');
      var change = (typeof before === 'number' && typeof after === 'number') ? after - before : null;
      cell.textContent = change === null ? '—' : (change > 0 ? '+' : '') + fmt(change);
      var better = change !== null && change !== 0 && ((change < 0) === !!LOWER_IS_BETTER[key]);
      cell.className = change === null || change === 0 ? '' : (better ? 'better' : 'worse');
    });
    var builtList = $('wb-built');
    clear(builtList);
    (state.built || []).forEach(function (id) {
      var props = current.candidateProps[String(id)] || {};
      var button = el('button', {type: 'button', title: '取消建设 unbuild', text: '×'});
      button.addEventListener('click', function () { current.lastAction = toggle(String(id)).catch(function () {}); });
      builtList.appendChild(el('li', {'data-id': String(id)}, [
        String(id) + ' ' + String(props.name || '') + ' (' + fmt(props.floor_area_m2) + ' m²) ', button]));
    });
    $('wb-built-count').textContent = '(' + (state.built || []).length + ')';
    var changed = $('wb-changed');
    clear(changed);
    (state.changed || []).forEach(function (c) {
      changed.appendChild(el('li', {'data-id': String(c.community_id)}, [
        el('span', {text: String(c.community || c.community_id) + ' (' + String(c.town || '') + ') '}),
        el('span', {className: 'status-' + c.status_before, text: STATUS_LABELS[c.status_before] || c.status_before}),
        ' → ',
        el('span', {className: 'status-' + c.status_after, text: STATUS_LABELS[c.status_after] || c.status_after})
      ]));
    });
    if (!(state.changed || []).length) changed.appendChild(el('li', {className: 'muted', text: '无 none'}));
    $('wb-undo').disabled = !state.can_undo;
    $('wb-redo').disabled = !state.can_redo;
    restyleCandidates(state.built);
  }

  function showLedgerRows(sheet) {
    // the rows a click changed, as the 台账 sheet of ledger.xlsx heads and writes them (the server sends the
    // sheet's own headings and cell texts, geofacility.ledger.workbook.sheet_rows): the category's columns only
    sheet = sheet && sheet.rows ? sheet : {headers: [], rows: [], status: []};
    current.ledgerRows = sheet.rows;
    var table = $('wb-ledger');
    clear(table.tHead); clear(table.tBodies[0]);
    if (!sheet.rows.length) return;
    // two header rows as in the sheet: a heading over its sub-headings (标准, 现状), the others spanning both
    var top = el('tr'), bottom = el('tr'), i = 0, headers = sheet.headers;
    while (i < headers.length) {
      var heading = String(headers[i][0]), span = 1;
      if (headers[i][1] === null || headers[i][1] === undefined) {
        top.appendChild(el('th', {rowspan: '2', text: heading}));
      } else {
        while (i + span < headers.length && String(headers[i + span][0]) === heading) span++;
        top.appendChild(el('th', {colspan: String(span), text: heading}));
        for (var j = 0; j < span; j++) bottom.appendChild(el('th', {text: String(headers[i + j][1])}));
      }
      i += span;
    }
    table.tHead.appendChild(top);
    if (bottom.childNodes.length) table.tHead.appendChild(bottom);
    sheet.rows.forEach(function (row, r) {
      var status = sheet.status[r];
      table.tBodies[0].appendChild(el('tr', {'data-status': String(status)}, row.map(function (v, k) {
        var cell = el('td', {text: v === null || v === undefined ? '' : String(v)});
        // the sheet's status fill on the 现状 cell
        if (k === sheet.status_column && STATUS_LABELS[status]) { cell.className = 'fill-' + status; cell.title = STATUS_LABELS[status]; }
        return cell;
      })));
    });
  }

  function applyUpdate(update) {
    if (!update) return update;
    if (update.category && update.category !== current.category) {
      // undo/redo of an action in another category: show where we are
      return api('GET', '/api/state?category=' + encodeURIComponent(current.category)).then(function (state) {
        showState(state);
        return update;
      });
    }
    recolourCommunities(update.communities);
    showState(update);
    showLedgerRows(update.ledger_sheet);
    var r = update.recomputed;
    $('wb-recomputed').textContent = r ? '本次重算 recomputed: ' + fmt(r.communities) + ' 个社区 communities, ' +
      fmt(r.demand_rows) + ' 个需求点 demand rows, ' + fmt(r.ms, 0) + ' ms' : '';
    return update;
  }

  function refreshCandidates() {
    return api('GET', '/api/layers?category=' + encodeURIComponent(current.category)).then(function (layers) {
      drawCandidates(layers.candidates);
      if (current.state) restyleCandidates(current.state.built);
    });
  }

  // ---------------------------------------------------------------------------------------- actions

  function action(promise, message, redraw) {
    say('计算中… computing…');
    return promise.then(function (update) {
      var after = redraw ? refreshCandidates().then(function () { return applyUpdate(update); }) :
        Promise.resolve(applyUpdate(update));
      return after.then(function (u) { say(message || ''); return u; });
    }, failed);
  }

  function toggle(id) {
    return action(api('POST', '/api/toggle', {category: current.category, candidate_id: String(id)}), '');
  }

  function setCategory(category) {
    current.category = category;
    var info = current.categories.filter(function (c) { return c.category === category; })[0] || {};
    current.radius = info.radius_m || null;
    $('wb-category').value = category;
    $('wb-standard').textContent = [info.name_zh, info.standard,
      info.radius_m ? '半径 radius ' + fmt(info.radius_m) + ' m' : '', info.distance].filter(Boolean).join(' · ');
    say('加载中… loading…');
    current.state = null;
    return Promise.all([
      api('GET', '/api/layers?category=' + encodeURIComponent(category)),
      api('GET', '/api/state?category=' + encodeURIComponent(category))
    ]).then(function (both) {
      drawLayers(both[0]);
      showState(both[1]);
      showLedgerRows([]);
      say('');
      return both[1];
    }, failed);
  }

  function undo() { return action(api('POST', '/api/undo', {}), '已撤销 undone', true); }
  function redo() { return action(api('POST', '/api/redo', {}), '已重做 redone', true); }

  function suggest(k) {
    return action(api('POST', '/api/suggest', {category: current.category, k: Number(k)}), '', true)
      .then(function (update) {
        $('wb-picks').textContent = '推荐 picks: ' + ((update && update.picks) || []).join(', ');
        return update;
      });
  }

  function listScenarios() {
    return api('GET', '/api/scenarios').then(function (list) {
      var select = $('wb-scenarios');
      clear(select);
      (list || []).forEach(function (s) {
        var name = typeof s === 'string' ? s : s.name;
        select.appendChild(el('option', {value: name, text: name}));
      });
      return list;
    });
  }

  function save(name) {
    return api('POST', '/api/scenarios', {name: name}).then(function (result) {
      say('已保存 saved: ' + name);
      return listScenarios().then(function () { return result; });
    }, failed);
  }

  function load(name) {
    return api('POST', '/api/scenarios/load', {name: name}).then(function (update) {
      return setCategory(current.category).then(function () { applyUpdate(update); say('已打开 loaded: ' + name); return update; });
    }, failed);
  }

  function exportScenario(name) {
    if (name !== undefined) $('wb-name').value = name;
    var value = $('wb-name').value.trim();
    say('导出中… exporting…');
    return api('POST', '/api/export', value ? {name: value} : {}).then(function (result) {
      var box = $('wb-export-result');
      clear(box);
      box.appendChild(el('span', {text: '已导出到 exported to: '}));
      box.appendChild(el('code', {id: 'wb-export-folder', text: String(result.folder)}));
      box.appendChild(el('span', {text: ' (' + (result.files || []).length + ' 个文件 files)'}));
      say('');
      return result;
    }, failed);
  }

  // ---- dropping a room

  function setDropping(on) {
    current.dropping = on;
    $('wb-drop').setAttribute('aria-pressed', on ? 'true' : 'false');
    $('wb-map').classList.toggle('dropping', on);
  }

  function roomForm(latlng) {
    var form = document.importNode($('wb-room-form').content, true).querySelector('form');
    var hosts = form.querySelector('.hosts');
    current.categories.forEach(function (c) {
      var box = el('input', {type: 'checkbox', name: 'categories', value: c.category});
      if (c.category === current.category) box.checked = true;
      hosts.appendChild(el('label', {}, [box, String(c.name_zh || c.category)]));
    });
    var popup = L.popup({closeOnClick: false, autoPan: false}).setLatLng(latlng).setContent(form).openOn(map);
    var done = {};
    done.promise = new Promise(function (resolve, reject) { done.resolve = resolve; done.reject = reject; });
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      var chosen = Array.prototype.filter.call(form.querySelectorAll('input[name=categories]'),
        function (b) { return b.checked; }).map(function (b) { return b.value; });
      var body = {category: current.category, lon: latlng.lng, lat: latlng.lat,
                  floor_area_m2: Number(form.elements.floor_area_m2.value), name: form.elements.name.value,
                  categories: chosen};
      map.closePopup(popup);
      setDropping(false);
      action(api('POST', '/api/room', body), '已放置新房源 room added', true).then(done.resolve, done.reject);
    });
    form.querySelector('.cancel').addEventListener('click', function () {
      map.closePopup(popup); setDropping(false); done.resolve(null);
    });
    return {form: form, done: done.promise};
  }

  map.on('click', function (e) {
    if (!current.dropping) return;
    var opened = roomForm(e.latlng);
    current.lastAction = opened.done.catch(function () { return null; });
  });

  function dropRoom(room) {
    // as a planner does it: the mode on, a click on the map, the form filled and sent
    setDropping(true);
    var latlng = L.latLng(room.lat, room.lon);
    map.fire('click', {latlng: latlng, layerPoint: map.latLngToLayerPoint(latlng),
                       containerPoint: map.latLngToContainerPoint(latlng)});
    var form = document.querySelector('.leaflet-popup .room-form');
    form.elements.name.value = room.name;
    form.elements.floor_area_m2.value = String(room.floor_area_m2);
    var wanted = room.categories || [current.category];
    Array.prototype.forEach.call(form.querySelectorAll('input[name=categories]'), function (b) {
      b.checked = wanted.indexOf(b.value) >= 0;
    });
    form.requestSubmit();
    return current.lastAction;
  }

  // ---------------------------------------------------------------------------------------- wiring

  $('wb-category').addEventListener('change', function (e) { setCategory(e.target.value).catch(function () {}); });
  $('wb-undo').addEventListener('click', function () { current.lastAction = undo().catch(function () {}); });
  $('wb-redo').addEventListener('click', function () { current.lastAction = redo().catch(function () {}); });
  $('wb-drop').addEventListener('click', function () { setDropping(!current.dropping); });
  $('wb-suggest-form').addEventListener('submit', function (e) {
    e.preventDefault(); current.lastAction = suggest($('wb-k').value).catch(function () {});
  });
  $('wb-save-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var name = $('wb-name').value.trim();
    if (name) current.lastAction = save(name).catch(function () {});
  });
  $('wb-export').addEventListener('click', function () { current.lastAction = exportScenario().catch(function () {}); });
  $('wb-load-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var name = $('wb-scenarios').value;
    if (name) current.lastAction = load(name).catch(function () {});
  });
  document.addEventListener('keydown', function (e) {
    var tag = (e.target && e.target.tagName) || '';
    if (!(e.ctrlKey || e.metaKey) || tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA') return;
    var key = e.key.toLowerCase();
    if (key === 'z' && !e.shiftKey) { e.preventDefault(); current.lastAction = undo().catch(function () {}); }
    else if (key === 'y' || (key === 'z' && e.shiftKey)) { e.preventDefault(); current.lastAction = redo().catch(function () {}); }
    else if (key === 'escape') setDropping(false);
  });

  function panel() {
    var out = {baseline: {}, scenario: {}, change: {}};
    Array.prototype.forEach.call($('wb-totals').tBodies[0].rows, function (row) {
      var key = row.getAttribute('data-total');
      ['baseline', 'scenario', 'change'].forEach(function (side) {
        out[side][key] = parseShown(row.querySelector('[data-side=' + side + ']').textContent);
      });
    });
    out.built = Array.prototype.map.call($('wb-built').querySelectorAll('li[data-id]'),
      function (li) { return li.getAttribute('data-id'); });
    out.changed = Array.prototype.map.call($('wb-changed').querySelectorAll('li[data-id]'),
      function (li) { return li.getAttribute('data-id'); });
    out.ledger_rows = $('wb-ledger').tBodies[0].rows.length;
    out.ledger_headers = Array.prototype.map.call($('wb-ledger').tHead.querySelectorAll('th'),
      function (th) { return th.textContent; });
    out.ledger_cells = Array.prototype.map.call($('wb-ledger').tBodies[0].rows, function (tr) {
      return Array.prototype.map.call(tr.cells, function (td) { return td.textContent; });
    });
    out.can_undo = !$('wb-undo').disabled;
    out.can_redo = !$('wb-redo').disabled;
    var folder = $('wb-export-folder');
    out.export_folder = folder ? folder.textContent : null;
    out.category = current.category;
    return out;
  }

  var ready = api('GET', '/api/categories').then(function (categories) {
    current.categories = categories;
    var select = $('wb-category');
    categories.forEach(function (c) {
      select.appendChild(el('option', {value: c.category, text: String(c.name_zh || '') + ' ' + c.category}));
    });
    listScenarios().catch(function () {});
    var wanted = params.get('category');
    var first = categories.filter(function (c) { return c.category === wanted; })[0] || categories[0];
    if (!first) { say('没有已调查的类别 no surveyed category', true); return null; }
    return setCategory(first.category);
  });
  ready.catch(function () {});

  window.workbench = {
    ready: ready,
    setCategory: setCategory,
    toggle: toggle,
    clickCandidate: function (id) {
      var layer = current.candidateLayers[String(id)];
      if (!layer) return Promise.reject(new Error('no candidate ' + id + ' on the map'));
      var ll = layer.getLatLng();
      layer.fire('click', {latlng: ll, layerPoint: map.latLngToLayerPoint(ll),
                           containerPoint: map.latLngToContainerPoint(ll)});
      return current.lastAction;
    },
    candidates: function () { return JSON.parse(JSON.stringify(current.candidateProps)); },
    dropRoom: dropRoom,
    undo: undo,
    redo: redo,
    suggest: suggest,
    save: save,
    load: load,
    exportScenario: exportScenario,
    panel: panel,
    map: map
  };
})();
