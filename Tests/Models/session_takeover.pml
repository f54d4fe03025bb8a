/*
 * Session takeover across Wharf nodes (issue 18), as a Promela model for spin.
 *
 * One persistent session; its record lives in a JetStream KV bucket and is
 * written only by compare-and-swap on its revision. N nodes; a client
 * connects MAXCONN times, each time to any node, without waiting for the
 * earlier connects to finish. Nodes crash and restart, lose NATS and get it
 * back, their leases lapse, release requests arrive late or never, in any
 * order.
 *
 * The property (asserted in setServing): never do two nodes deliver the
 * session at once. Two at once is what breaks QoS 2 exactly-once and the
 * order of a queue.
 *
 * The protocol, as a node runs it for a CONNECT:
 *   1. read the record (revision r);
 *   2. write it back by CAS on r with epoch + 1, owner = this node,
 *      connected, and `unreleased` = every other node that may still
 *      deliver an older epoch: the old owner if it was connected, plus the
 *      old record's `unreleased` (that fence may not have finished); a lost
 *      CAS goes back to 1; an older connection of its own closes at once;
 *   3. ask each unreleased node to release (a core NATS request);
 *   4. wait until each has answered or its lease has lapsed;
 *   5. deliver, unless a later connect released this one meanwhile, and
 *      clear `unreleased` by CAS on the revision it wrote (a lost CAS
 *      leaves it: a later connect asks a few nodes more).
 * A node asked to release epoch e closes any connection of the session
 * with an older epoch, abandons any connect of it with an older epoch,
 * then answers. A node that cannot renew its lease closes its connections
 * and abandons its connects before the lease lapses (self-fencing): the
 * model takes that as given (a lapse needs a node that delivers nothing
 * and waits for nothing); with a lease of seconds renewed every lease / 5
 * it is a matter of clocks, not of this protocol.
 *
 * Tests/Models/check-takeover runs spin on it, exhaustively. With -DNAIVE
 * the record has no `unreleased` set, so a connect asks only the old
 * owner: spin then finds two nodes delivering (a node that wrote the
 * record, then died before asking its predecessor to release; the next
 * connect asks only the dead node and waits out its lease).
 */

#ifndef N
#define N 3
#endif
#ifndef MAXCONN
#define MAXCONN 3
#endif
#ifndef CRASHES
#define CRASHES 1
#endif
#ifndef CUTS
#define CUTS 1
#endif

#define NONE 255
#define bit(i) (1 << (i))
#define ALL (bit(N) - 1)

/* The session's record in KV_wharf_sess; rev 0 means absent. */
byte rev = 0;
byte recEpoch = 0;
byte recOwner = NONE;
bool recConnected = false;
byte recUnreleased = 0;     /* bit set of nodes that may deliver an older epoch */

/* The nodes, as bit sets (bit i: node i). */
byte up = ALL;              /* the process runs */
byte linked = ALL;          /* it has NATS: can write the record, send and answer requests */
byte live = ALL;            /* its lease in KV_wharf_nodes has not lapsed */
byte serving[N];            /* the epoch a node delivers to a live connection; 0: none */
byte pending[N];            /* the epoch of its connect waiting for releases; 0: none */
byte boot[N];               /* a restart starts a new life: its old connects are void */

/* Core NATS, as sets: requests on their way, and who answered each epoch. */
byte asked[N];              /* bit e: a request to release epoch e is on its way to the node */
byte releasedBy[MAXCONN + 1];

byte delivering = 0;        /* nodes with serving != 0 */

/* Every write to `serving` goes through here, so the property is checked
 * at each one (cheaper for spin than a monitor process). */
inline setServing(i, e) {
    delivering = delivering - (serving[i] != 0) + (e != 0);
    serving[i] = e;
    assert(delivering <= 1)
}

#define running(i) ((up & linked & bit(i)) != 0)

proctype Connect(byte n) {
    byte r, e, o, u, my, waiting, b, mine;
    bool c;
    b = boot[n];
read:
    atomic {
        if
        :: boot[n] != b || !(up & bit(n)) -> goto gone
        :: boot[n] == b && running(n) ->
            r = rev; e = recEpoch; o = recOwner; c = recConnected; u = recUnreleased
        fi
    }
    atomic {
        if
        :: boot[n] != b || !running(n) -> goto gone
        :: else ->
            if
            :: rev != r -> goto read
            :: else ->
                my = e + 1;
#ifdef NAIVE
                waiting = 0;
#else
                waiting = u;
#endif
                if
                :: c && o != NONE -> waiting = waiting | bit(o)
                :: else -> skip
                fi;
                waiting = waiting & ~bit(n);
                if
                :: serving[n] != 0 -> setServing(n, 0)
                :: else -> skip
                fi;
                rev++; recEpoch = my; recOwner = n; recConnected = true; recUnreleased = waiting;
                mine = rev;
                pending[n] = my;
                r = 0; e = 0; o = 0; c = 0; u = 0
            fi
        fi
    }
    /* Ask every node that may still deliver to release (the node may die first). */
    atomic {
        if
        :: boot[n] == b && running(n) ->
            byte i;
            for (i : 0 .. N - 1) {
                if
                :: waiting & bit(i) -> asked[i] = asked[i] | bit(my)
                :: else -> skip
                fi
            }
        :: else -> goto gone
        fi
    }
    /* Wait: each answers, or its lease lapses; or this connect is released itself. */
    do
    :: pending[n] != my || boot[n] != b -> goto gone
    :: atomic {
        (waiting & (releasedBy[my] | (ALL & ~live))) != 0 ->
        waiting = waiting & ~(releasedBy[my] | (ALL & ~live))
    }
    :: waiting == 0 -> break
    od;
    atomic {
        if
        :: pending[n] == my && boot[n] == b && (up & bit(n)) -> pending[n] = 0; setServing(n, my)
        :: else -> goto gone
        fi
    }
    /* The fence is done: nobody older delivers. Cleared if still its revision. */
    atomic {
        if
        :: boot[n] == b && running(n) && rev == mine && recUnreleased != 0 -> rev++; recUnreleased = 0
        :: else -> skip
        fi
    }
gone:
    my = 0; waiting = 0; b = 0; mine = 0
}

/* Everything else: requests delivered (or lost), crashes, restarts, lost and
 * regained NATS, self-fencing, lapses, clean disconnects. */
active proctype World() {
    byte i, e, crashes = CRASHES, cuts = CUTS;
end:
    do
    :: atomic {
            /* Chosen inside the step: spin stores no state per choice. */
            select (i : 0 .. N - 1);
            select (e : 1 .. MAXCONN);
            if
            :: asked[i] & bit(e) ->
                /* The request arrives; a node that is down or cut off loses it. */
                asked[i] = asked[i] & ~bit(e);
                if
                :: running(i) ->
                    if
                    :: serving[i] != 0 && serving[i] < e -> setServing(i, 0)
                    :: else -> skip
                    fi;
                    if
                    :: pending[i] != 0 && pending[i] < e -> pending[i] = 0
                    :: else -> skip
                    fi;
                    releasedBy[e] = releasedBy[e] | bit(i)
                :: else -> skip
                fi
            :: crashes > 0 && (up & bit(i)) ->
                up = up & ~bit(i); setServing(i, 0); pending[i] = 0; boot[i]++; crashes--
            :: !(up & bit(i)) ->
                up = up | bit(i);
                if
                :: linked & bit(i) -> live = live | bit(i)
                :: else -> skip
                fi
            :: cuts > 0 && (linked & bit(i)) ->
                linked = linked & ~bit(i); cuts--
            :: !(linked & bit(i)) ->
                linked = linked | bit(i);
                if
                :: up & bit(i) -> live = live | bit(i)
                :: else -> skip
                fi
            :: (up & bit(i)) && !(linked & bit(i)) && (serving[i] != 0 || pending[i] != 0) ->
                /* Self-fencing: cut off from NATS, it closes and abandons everything. */
                setServing(i, 0); pending[i] = 0
            :: (live & bit(i)) && !running(i) && serving[i] == 0 && pending[i] == 0 ->
                /* A lease lapses only when nothing renews it, after the self-fence. */
                live = live & ~bit(i)
            :: serving[i] != 0 && running(i) ->
                /* The client disconnects cleanly: connected = false by CAS, if still its record. */
                if
                :: recOwner == i && recEpoch == serving[i] -> rev++; recConnected = false
                :: else -> skip
                fi;
                setServing(i, 0)
            :: else -> skip
            fi;
            i = 0; e = 0
        }
    od
}

init {
    byte i, k;
    for (k : 1 .. MAXCONN) {
        atomic {
            select (i : 0 .. N - 1);
            run Connect(i)
        }
    }
}
