"""HTTP routes of the strike ledger: complaints, decisions, sellers, unfreezing, takedowns.

`ledger_router(get_ledger)` returns a FastAPI `APIRouter`; `get_ledger` is a FastAPI
dependency that yields the open `Ledger`, so the same routes can live in the small app
of `serving.ledger_app` or be mounted in the BentoML service. Every call needs
`Authorization: Bearer <key>`; every refused call (4xx) is logged.

No `from __future__ import annotations` here: FastAPI reads the routes' annotations at
runtime, and those built inside `ledger_router` (the ledger dependency) are local names
that a string annotation could not resolve.
"""

import logging
import math
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import (
    APIRouter,
    Depends,
    Header,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
    status,
)
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from serving.keys import Principal, Role, a_key_of, authenticate
from serving.ledger.events import MAX_ID_CHARS, MAX_TEXT_CHARS, check_text
from serving.ledger.ledger import (
    ComplaintFiling,
    ComplaintNotFound,
    ComplaintRecord,
    EscalatedComplaint,
    FreezeRecord,
    Ledger,
    LedgerConflict,
    SellerState,
)
from serving.ledger.store import LedgerBusyError, LedgerStore
from serving.ledger.takedowns import Takedown

log = logging.getLogger("strikeout.ledger.api")


def _text(name: str, max_chars: int) -> Callable[[str], str]:
    return lambda value: check_text(value, name, max_chars)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_ID_CHARS),
    AfterValidator(_not_blank),
    AfterValidator(_text("identifier", MAX_ID_CHARS)),
]
Text = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS),
    AfterValidator(_not_blank),
    AfterValidator(_text("text", MAX_TEXT_CHARS)),
]
NO_NUL = r"^[^\x00]*$"  # PostgreSQL's text holds no NUL: refused as input, not a 500
PathId = Annotated[str, Path(min_length=1, max_length=MAX_ID_CHARS, pattern=NO_NUL)]


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ComplaintRequest(Closed):
    """A brand's complaint against a listing."""

    listing_id: Identifier = Field(
        description="The listing complained about; it need not be one the service scored.")
    seller_id: Identifier = Field(description="The seller who offers the listing.")
    brand: Identifier = Field(description="The brand filing; a brand key files only for its own.")
    reason: Text = Field(description="Why the brand holds the listing infringing.")


class DecisionRequest(Closed):
    """A reviewer's decision on a pending complaint."""

    decision: Literal["upheld", "rejected"] = Field(
        description="'upheld' makes the complaint a strike against the seller; "
                    "'rejected' does not.")
    note: Text | None = Field(None, description="Optional note kept with the decision.")


class UnfreezeRequest(Closed):
    """An admin's lift of a seller's freeze."""

    reason: Text = Field(description="Why the freeze is lifted; required and kept in the ledger.")


class ComplaintResponse(BaseModel):
    complaint_id: str = Field(description="The ledger's id of the complaint.")
    status: Literal["pending", "upheld", "rejected"] = Field(
        description="Where the complaint stands.")
    listing_id: str = Field(description="The listing complained about.")
    seller_id: str = Field(description="The seller complained about.")
    brand: str = Field(description="The brand that filed it.")
    reason: str | None = Field(description="The brand's reason.")
    filed_at: datetime = Field(description="When it was filed (UTC).")
    resolved_at: datetime | None = Field(
        description="When it was decided (UTC); null while pending.")
    note: str | None = Field(description="The reviewer's note on the decision, if any.")

    @classmethod
    def of(cls, record: ComplaintRecord) -> "ComplaintResponse":
        return cls(complaint_id=record.complaint_id, status=record.status,  # type: ignore[arg-type]
                   listing_id=record.listing_id, seller_id=record.seller_id, brand=record.brand,
                   reason=record.reason, filed_at=record.filed_at,
                   resolved_at=record.resolved_at, note=record.note)


class DecisionResponse(BaseModel):
    complaint_id: str = Field(description="The complaint decided.")
    status: Literal["upheld", "rejected"] = Field(description="The decision now recorded.")
    seller_id: str = Field(description="The seller the complaint is against.")
    strike_recorded: bool = Field(
        description="True if this decision added a strike (false for a listing already struck).")
    frozen_now: bool = Field(description="True if this decision froze the seller.")
    seller_frozen: bool = Field(description="Whether the seller is frozen after this decision.")


class StrikeCause(BaseModel):
    complaint_id: str = Field(description="The upheld complaint behind the strike.")
    listing_id: str = Field(description="The listing struck.")
    brand: str = Field(description="The brand whose complaint was upheld.")


class StrikeResponse(StrikeCause):
    at: datetime = Field(description="When the strike was recorded (UTC).")
    counting: bool = Field(
        description="True if the strike counts towards a freeze (it came after the last lift).")


class FreezeResponse(BaseModel):
    frozen_at: datetime = Field(description="When the seller was frozen (UTC).")
    scope: Literal["brand", "all"] = Field(description="Which strikes were counted together.")
    reason: str = Field(description="Why, in words.")
    caused_by: list[StrikeCause] = Field(description="The strikes that caused the freeze.")
    lifted_at: datetime | None = Field(description="When an admin lifted it; null while in force.")
    lift_reason: str | None = Field(description="The admin's reason for lifting it.")

    @classmethod
    def of(cls, record: FreezeRecord) -> "FreezeResponse":
        return cls(frozen_at=record.frozen_at, scope=record.scope,  # type: ignore[arg-type]
                   reason=record.reason, caused_by=[StrikeCause(**c) for c in record.caused_by],
                   lifted_at=record.lifted_at, lift_reason=record.lift_reason)


class TakedownResponse(BaseModel):
    seq: int = Field(description="The takedown's place in the ledger; pass the last one seen "
                                 "as `after` to read on.")
    listing_id: str = Field(description="The listing taken down.")
    seller_id: str = Field(description="Its seller.")
    at: datetime = Field(description="When it was taken down (UTC).")
    cause: Literal["review", "freeze"] = Field(
        description="`review`: a reviewer found it counterfeit; `freeze`: its seller was frozen.")
    reason: str = Field(description="Why, in words.")

    @classmethod
    def of(cls, takedown: Takedown) -> "TakedownResponse":
        return cls(seq=takedown.seq, listing_id=takedown.listing_id,
                   seller_id=takedown.seller_id, at=takedown.at, cause=takedown.cause,
                   reason=takedown.reason)


class TakedownFeed(BaseModel):
    takedowns: list[TakedownResponse] = Field(description="Takedowns after `after`, oldest first.")
    next_after: int = Field(description="The `after` of the next page: the last seq returned, "
                                        "or the request's `after` when there was nothing new.")


class SellerResponse(BaseModel):
    seller_id: str = Field(description="The seller.")
    frozen: bool = Field(description="Whether the seller is frozen now.")
    freeze: FreezeResponse | None = Field(description="The freeze in force, if any: when and why.")
    scope: Literal["brand", "all"] = Field(description="How the ledger counts strikes.")
    strikes_to_freeze: int = Field(description="Strikes in scope at which a seller is frozen.")
    strikes_by_brand: dict[str, int] = Field(description="All strikes ever, by brand.")
    counting_strikes_by_brand: dict[str, int] = Field(
        description="Strikes since the last lift (those that count towards a freeze), by brand.")
    strikes: list[StrikeResponse] = Field(description="Every strike, oldest first.")
    freezes: list[FreezeResponse] = Field(description="Every freeze, lifted ones included.")
    complaints: list[ComplaintResponse] = Field(description="Complaint history, oldest first.")
    takedowns: list[TakedownResponse] = Field(
        description="The seller's listings taken down, oldest first (a brand sees those of its "
                    "own complaints).")

    @classmethod
    def of(cls, state: SellerState) -> "SellerResponse":
        current = state.current_freeze
        return cls(
            seller_id=state.seller_id, frozen=state.frozen,
            freeze=FreezeResponse.of(current) if current else None,
            scope=state.scope, strikes_to_freeze=state.strikes_to_freeze,  # type: ignore[arg-type]
            strikes_by_brand=state.strikes_by_brand,
            counting_strikes_by_brand=state.counting_by_brand,
            strikes=[StrikeResponse(complaint_id=s.complaint_id, listing_id=s.listing_id,
                                    brand=s.brand, at=s.at, counting=s.counting)
                     for s in state.strikes],
            freezes=[FreezeResponse.of(f) for f in state.freezes],
            complaints=[ComplaintResponse.of(c) for c in state.complaints],
            takedowns=[TakedownResponse.of(t) for t in state.takedowns],
        )


class UnfreezeResponse(BaseModel):
    seller_id: str = Field(description="The seller.")
    frozen: bool = Field(description="Always false: the freeze is lifted.")
    freeze: FreezeResponse = Field(description="The freeze just lifted, with the lift.")


class KeyFirstRequest(Request):
    """A request whose JSON decode error waits until the route's key check has run.

    FastAPI parses a JSON body before it solves the route's dependencies, so bytes that
    are not JSON would get a 422 before a missing key got its 401: a caller without a
    key could probe the routes' bodies. Here a decode error is kept and the body reads
    as its raw bytes, as FastAPI reads a body that is not declared JSON (no body model
    accepts bytes); the dependencies refuse the key if they will, and only then is the
    decode error raised (by `LoggedRoute`).
    """

    json_error: RequestValidationError | None = None

    async def json(self) -> Any:
        try:
            return await super().json()
        # json.JSONDecodeError, bytes no JSON encoding reads, or nesting past the parser
        except (ValueError, RecursionError) as exc:
            position = getattr(exc, "pos", 0)
            self.json_error = RequestValidationError([{
                "type": "json_invalid", "loc": ("body", position), "msg": "JSON decode error",
                "input": {}, "ctx": {"error": getattr(exc, "msg", str(exc))}}])
            return await self.body()


class LoggedRoute(APIRoute):
    """Checks the key before the body (`KeyFirstRequest`) and logs every refused call
    (any 4xx) with the caller's key id, never the key."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def logged(request: Request) -> Response:
            request = KeyFirstRequest(request.scope, request.receive)
            try:
                response = await handler(request)
            except HTTPException as exc:
                _log_refusal(request, exc.status_code, str(exc.detail))
                raise
            except RequestValidationError as exc:
                if _not_json(request):
                    _log_refusal(request, 415, "the body is not JSON")
                    return JSONResponse({"detail": "the body must be JSON (Content-Type: "
                                                   "application/json)"}, status_code=415)
                exc = request.json_error or exc
                _log_refusal(request, 422, _first_error(exc))
                return JSONResponse({"detail": _printable(jsonable_encoder(exc.errors()))},
                                    status_code=422)
            if 400 <= response.status_code < 500:
                _log_refusal(request, response.status_code, "")
            return response

        return logged


ECHOED_CHARS = 200  # of a refused text, at most, in a 422


def _not_json(request: Request) -> bool:
    """A request whose Content-Type names another type than JSON (FastAPI reads no body then)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return bool(media) and media != "application/json" and not media.endswith("+json")


def _printable(value: Any) -> Any:
    """`value` with text that UTF-8 cannot encode (lone surrogates) escaped, and numbers
    that JSON cannot hold (NaN, infinities, which Python's parser accepts) as text.

    FastAPI echoes the offending input in a 422; echoing either as is would turn the 422
    into a 500 when the response is encoded. Long text is cut to `ECHOED_CHARS`: a 2 MiB
    body refused whole is not sent back whole.
    """
    if isinstance(value, str):
        if len(value) > ECHOED_CHARS:
            value = f"{value[:ECHOED_CHARS]}... ({len(value):,} characters)"
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(v) for v in value]
    return value


def _first_error(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"{where}: {first.get('msg', '')}"


def _log_refusal(request: Request, code: int, why: str) -> None:
    principal = getattr(request.state, "principal", None)
    key_id = principal.key_id if principal else "-"
    client = request.client.host if request.client else "-"
    log.warning("refused %s %s -> %d (key %s, client %s): %s", request.method,
                request.url.path, code, key_id, client, why)


# what any route with a key may answer, besides its own
KEY_REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No key, or an unknown or revoked one."},
    403: {"description": "The key's role (or brand) may not do this."},
    413: {"description": "A body over 2 MiB."},
    415: {"description": "A body that is not JSON (its Content-Type names another type)."},
    503: {"description": "The ledger is busy or not open yet; retry after `Retry-After` "
                         "seconds."},
}


def key_roles(get_store: Callable[..., LedgerStore]) -> Callable[..., Any]:
    """`role(*allowed)`: a route dependency giving the caller whose key has one of `allowed`.

    No known key is a 401, another role a 403. `get_store` is the FastAPI dependency that
    gives the store holding the keys. The ledger's and the queue's routes share this.
    """
    bearer = HTTPBearer(auto_error=False, description="An API key from `strikeout keys create`.")

    def caller(request: Request, store: Annotated[LedgerStore, Depends(get_store)],
               credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
               ) -> Principal:
        principal = authenticate(store, credentials.credentials) if credentials else None
        if principal is None:
            reason = "missing bearer key" if credentials is None else "unknown key"
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, reason,
                                headers={"WWW-Authenticate": "Bearer"})
        request.state.principal = principal
        return principal

    def role(*allowed: Role) -> Any:
        def check(principal: Annotated[Principal, Depends(caller)]) -> Principal:
            if principal.role not in allowed:
                raise HTTPException(status.HTTP_403_FORBIDDEN,
                                    f"{a_key_of(principal.role)} may not do this; "
                                    f"needs {' or '.join(allowed)}")
            return principal
        return Depends(check)

    return role


def ledger_router(get_ledger: Callable[..., Ledger]) -> APIRouter:
    """The ledger's routes; `get_ledger` is the FastAPI dependency that gives the `Ledger`."""
    router = APIRouter(route_class=LoggedRoute, tags=["ledger"], responses=KEY_REFUSALS)
    LedgerDep = Annotated[Ledger, Depends(get_ledger)]

    def key_store(ledger: LedgerDep) -> LedgerStore:
        return ledger.store

    role = key_roles(key_store)

    @router.post(
        "/complaints", status_code=status.HTTP_201_CREATED, response_model=ComplaintResponse,
        summary="File a brand complaint against a listing",
        responses={200: {"model": ComplaintResponse,
                         "description": "Replay: this idempotency key and body were already "
                                        "filed; the same complaint is returned."},
                   409: {"description": "The idempotency key was used with a different "
                                        "body, or the listing is known as another seller's."}},
    )
    def file_complaint(
        body: ComplaintRequest,
        response: Response,
        ledger: LedgerDep,
        principal: Annotated[Principal, role("brand")],
        idempotency_key: Annotated[str, Header(
            alias="Idempotency-Key", min_length=1, max_length=MAX_ID_CHARS,
            description="Client-chosen key: the same key with the same body files once.")],
    ) -> ComplaintResponse:
        if body.brand != principal.brand:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"this key files for brand {principal.brand!r}, not {body.brand!r}")
        filing = ComplaintFiling(body.listing_id, body.seller_id, body.brand, body.reason)
        with http_errors():
            filed = ledger.file_complaint(filing, actor=principal.actor,
                                          idempotency_key=idempotency_key)
        if not filed.created:
            response.status_code = status.HTTP_200_OK
            response.headers["Idempotent-Replayed"] = "true"
        return ComplaintResponse.of(filed.complaint)

    @router.get("/complaints/{complaint_id}", response_model=ComplaintResponse,
                summary="Look up a complaint (a brand sees only its own)")
    def get_complaint(complaint_id: PathId, ledger: LedgerDep,
                      principal: Annotated[Principal, role("brand", "reviewer", "senior",
                                                            "admin")]
                      ) -> ComplaintResponse:
        record = ledger.complaint(complaint_id)
        if record is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no complaint {complaint_id!r}")
        if principal.role == "brand" and record.brand != principal.brand:
            # as if it did not exist: a 403 would tell a brand which ids other brands hold
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no complaint {complaint_id!r}")
        return ComplaintResponse.of(record)

    @router.post("/complaints/{complaint_id}/decision", response_model=DecisionResponse,
                 summary="Uphold or reject a pending complaint",
                 responses={403: {"description": "The complaint's review case was escalated: "
                                                 "a senior reviewer decides it."},
                            404: {"description": "No such complaint."},
                            409: {"description": "The complaint was already decided, or its "
                                                 "review case is claimed by another reviewer "
                                                 "(its holder decides it)."}})
    def decide(complaint_id: PathId, body: DecisionRequest, ledger: LedgerDep,
               principal: Annotated[Principal, role("reviewer", "senior")]
               ) -> DecisionResponse:
        with http_errors(forbidden=(EscalatedComplaint,)):
            outcome = ledger.decide(complaint_id, body.decision, actor=principal.actor,
                                    note=body.note, senior=principal.role == "senior")
        return DecisionResponse(
            complaint_id=outcome.complaint.complaint_id, status=body.decision,
            seller_id=outcome.complaint.seller_id, strike_recorded=outcome.strike_recorded,
            frozen_now=outcome.frozen_now, seller_frozen=outcome.seller_frozen)

    @router.get("/sellers/{seller_id}", response_model=SellerResponse,
                summary="A seller's strikes, freezes and complaints (a brand sees its own)")
    def seller(seller_id: PathId, ledger: LedgerDep,
               principal: Annotated[Principal, role("reviewer", "senior", "admin", "brand")]
               ) -> SellerResponse:
        brand = principal.brand if principal.role == "brand" else None
        return SellerResponse.of(ledger.seller(seller_id, brand=brand))

    @router.post("/sellers/{seller_id}/unfreeze", response_model=UnfreezeResponse,
                 summary="Lift a seller's freeze (admins, with a reason)",
                 responses={409: {"description": "The seller is not frozen."}})
    def unfreeze(seller_id: PathId, body: UnfreezeRequest, ledger: LedgerDep,
                 principal: Annotated[Principal, role("admin")]) -> UnfreezeResponse:
        with http_errors():
            record = ledger.unfreeze(seller_id, reason=body.reason, actor=principal.actor)
        return UnfreezeResponse(seller_id=seller_id, frozen=False,
                                freeze=FreezeResponse.of(record))

    @router.get("/takedowns", response_model=TakedownFeed,
                summary="Listings taken down, in order: the feed listing systems act on")
    def takedowns(ledger: LedgerDep,
                  principal: Annotated[Principal, role("scorer", "reviewer", "senior",
                                                       "admin")],
                  after: Annotated[int, Query(ge=0, le=2**62, description=(
                      "Return takedowns after this seq (0: from the start)."))] = 0,
                  limit: Annotated[int, Query(ge=1, le=1000, description=(
                      "At most this many takedowns."))] = 500) -> TakedownFeed:
        found = ledger.takedowns(after, limit)
        return TakedownFeed(takedowns=[TakedownResponse.of(t) for t in found],
                            next_after=found[-1].seq if found else after)

    return router


@contextmanager
def http_errors(not_found: tuple[type[Exception], ...] = (ComplaintNotFound,),
                forbidden: tuple[type[Exception], ...] = ()) -> Iterator[None]:
    """Turn the ledger's (and the queue's) refusals into HTTP errors."""
    try:
        yield
    except LedgerConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except not_found as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except forbidden as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from exc
    except LedgerBusyError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc),
                            headers={"Retry-After": "1"}) from exc
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
